import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
  UploadPartCopyCommand,
  type UploadPartCopyCommandOutput,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { ConflictError, NotFoundError, OriginError, PayloadTooLargeError, ProxyError } from '../errors.js';
import { ORIGIN_MESSAGES } from './messages.js';
import { checkSourcePath, listingPrefix } from './source-path.js';
import {
  type ObjectPage,
  type Origin,
  type OriginWriter,
  type PutOptions,
  RESERVED_FOLDER,
  type RecordStore,
  type StagedObject,
  type WrittenObject,
} from './types.js';
import { countBytes, putThroughStaging } from './write-util.js';

/** Part size of multipart uploads; with `UPLOAD_QUEUE` parts in flight this bounds an upload's memory. */
export const UPLOAD_PART_BYTES = 5 * 1024 * 1024;
/** Parts uploaded at once per upload. */
export const UPLOAD_QUEUE = 4;
/** Largest object one `CopyObject` can commit (S3's limit). */
export const MAX_COPY_BYTES = 5 * 1024 ** 3;
/**
 * The slowest copy rate a commit allows for before it counts as timed out: a server-side copy
 * of a large object takes far longer than the origin timeout meant for one answer.
 */
const MIN_COPY_BYTES_PER_SECOND = 5 * 1024 * 1024;
const MIN_COPY_TIMEOUT_MS = 60_000;
/** Objects above this are committed by a multipart copy in parts of this size. */
export const COPY_PART_BYTES = 64 * 1024 * 1024;
const COPY_PARTS_AT_ONCE = 8;

function isNotImplemented(error: unknown): boolean {
  const cause = error instanceof ProxyError ? error.cause : error;
  const e = (cause ?? {}) as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NotImplemented' || e.Code === 'NotImplemented' || e.$metadata?.httpStatusCode === 501;
}

/** What the writer borrows from its `S3Origin`: the client, the key space and the error vocabulary. */
export interface S3WriterDeps {
  client: S3Client;
  bucket: string;
  /** The origin's key prefix (`''` or ending in `/`). */
  prefix: string;
  /** Runs one SDK call under the origin timeout (or `timeoutMs`), translating S3's errors. */
  call<T>(
    call: (abortSignal: AbortSignal) => Promise<T>,
    signal?: AbortSignal,
    timeoutMs?: number,
  ): Promise<T>;
  /** Translates an S3 error met outside `call` (a multipart upload). */
  translate(error: unknown): ProxyError;
  /** A read-only origin over another prefix of the same bucket (the staging area's reader). */
  readPrefix(prefix: string): Origin;
}

function isMissing(error: unknown): boolean {
  return error instanceof NotFoundError;
}

function isPreconditionFailed(error: unknown): boolean {
  const cause = error instanceof ProxyError ? error.cause : error;
  const e = (cause ?? {}) as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'PreconditionFailed' || e.$metadata?.httpStatusCode === 412;
}

/** `bucket/key` for `x-amz-copy-source`, each segment URL-encoded. */
function copySource(bucket: string, key: string): string {
  return `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
}

/**
 * The write side of an S3 origin. An upload streams through `@aws-sdk/lib-storage` (5 MiB parts,
 * 4 in flight, so about 20 MiB of memory per upload whatever its size) to a staging key under
 * `<prefix>.ik-proxy/staging/`; `commit` copies it to its path (`CopyObject`, up to 5 GiB) and
 * deletes the staging key. A failed or cancelled upload aborts its multipart upload after every
 * part in flight has settled, so no part is left behind (a bucket lifecycle rule that aborts
 * incomplete multipart uploads covers a process killed mid-upload). Records are small objects
 * under `<prefix>.ik-proxy/records/`; a conditional create asks S3 for `If-None-Match: *` after a
 * `HeadObject` (servers that ignore the condition still refuse a record that already exists).
 */
export class S3Writer implements OriginWriter {
  readonly #deps: S3WriterDeps;
  readonly #stagingPrefix: string;
  readonly #recordsPrefix: string;
  #staged: Origin | undefined;
  readonly records: RecordStore;

  constructor(deps: S3WriterDeps) {
    this.#deps = deps;
    this.#stagingPrefix = `${deps.prefix}${RESERVED_FOLDER}/staging/`;
    this.#recordsPrefix = `${deps.prefix}${RESERVED_FOLDER}/records/`;
    this.records = {
      get: (key, signal) => this.#getRecord(key, signal),
      put: (key, body, options) => this.#putRecord(key, body, options?.ifAbsent ?? false),
      delete: (key) => this.#deleteKey(this.#recordsPrefix + checkSourcePath(key)).then(() => undefined),
      list: (prefix, options) => this.#listKeys(this.#recordsPrefix, listingPrefix(prefix), options, false),
    };
  }

  /** Read access to staged objects by id. */
  get staged(): Origin {
    this.#staged ??= this.#deps.readPrefix(this.#stagingPrefix);
    return this.#staged;
  }

  async stage(body: Readable, options: PutOptions = {}): Promise<StagedObject> {
    const { client, bucket } = this.#deps;
    const id = randomUUID();
    const key = this.#stagingPrefix + id;
    const counter = countBytes();
    body.once('error', (error) => counter.destroy(error));
    body.pipe(counter);
    // Cancelling destroys the body, so lib-storage fails through its own error path: it waits for
    // the parts in flight, then aborts the multipart upload, and only then rejects.
    const onAbort = () => counter.destroy(options.signal?.reason ?? new Error('upload cancelled'));
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const upload = new Upload({
      client,
      params: { Bucket: bucket, Key: key, Body: counter, ContentType: options.contentType },
      partSize: UPLOAD_PART_BYTES,
      queueSize: UPLOAD_QUEUE,
      leavePartsOnError: false,
    });
    try {
      if (options.signal?.aborted) onAbort();
      await upload.done();
    } catch (error) {
      // A second abort covers an abort request that failed itself; "no such upload" is fine.
      const uploadId = (upload as unknown as { uploadId?: string }).uploadId;
      if (uploadId) {
        await client
          .send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }))
          .catch(() => undefined);
      }
      await this.#deleteKey(key).catch(() => undefined);
      if (options.signal?.aborted) throw options.signal.reason;
      if (error instanceof ProxyError) throw error;
      const streamFailure = counter.errored ?? body.errored;
      if (streamFailure instanceof ProxyError) throw streamFailure;
      throw this.#deps.translate(error);
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
    }
    return { id, size: counter.bytes, contentType: options.contentType };
  }

  async commit(
    staged: StagedObject,
    source: string,
    options: { ifAbsent?: boolean } = {},
  ): Promise<WrittenObject> {
    const { bucket, call, client } = this.#deps;
    const relative = checkSourcePath(source);
    const target = this.#deps.prefix + relative;
    const from = this.#stagingPrefix + checkSourcePath(staged.id);
    if (options.ifAbsent && (await this.#exists(target))) {
      throw new ConflictError('A file already exists at that path');
    }
    // Large objects are copied in parallel parts (much faster on S3, and past CopyObject's 5 GiB);
    // a server without UploadPartCopy falls back to one CopyObject.
    const copied = staged.size > COPY_PART_BYTES && (await this.#copyInParts(from, target, staged));
    if (!copied) await this.#copyWhole(from, target, staged);
    await this.#deleteKey(from).catch(() => undefined);
    const head = await call((abortSignal) =>
      client.send(new HeadObjectCommand({ Bucket: bucket, Key: target }), { abortSignal }),
    );
    const size = head.ContentLength ?? staged.size;
    return {
      path: relative,
      size,
      version: head.ETag ?? `${size}-${head.LastModified?.getTime() ?? 0}`,
      lastModified: head.LastModified ?? new Date(),
    };
  }

  /** One `CopyObject` (at most 5 GiB), with a deadline for its size. */
  async #copyWhole(from: string, target: string, staged: StagedObject): Promise<void> {
    const { bucket, call, client } = this.#deps;
    if (staged.size > MAX_COPY_BYTES) {
      throw new PayloadTooLargeError(`An upload into this S3 server may be at most ${MAX_COPY_BYTES} bytes`);
    }
    const copyTimeoutMs = Math.max(MIN_COPY_TIMEOUT_MS, (staged.size / MIN_COPY_BYTES_PER_SECOND) * 1000);
    await call(
      (abortSignal) =>
        client.send(
          new CopyObjectCommand({
            Bucket: bucket,
            Key: target,
            CopySource: copySource(bucket, from),
            ContentType: staged.contentType,
            MetadataDirective: staged.contentType ? 'REPLACE' : 'COPY',
          }),
          { abortSignal, requestTimeout: copyTimeoutMs },
        ),
      undefined,
      copyTimeoutMs,
    );
  }

  /**
   * A multipart copy: `UploadPartCopy` of `COPY_PART_BYTES` ranges, `COPY_PARTS_AT_ONCE` at a time,
   * then `CompleteMultipartUpload`; any failure aborts the multipart upload (no part is left).
   * False when the server does not implement `UploadPartCopy` (the caller copies whole).
   */
  async #copyInParts(from: string, target: string, staged: StagedObject): Promise<boolean> {
    const { bucket, call, client } = this.#deps;
    const created = await call((abortSignal) =>
      client.send(
        new CreateMultipartUploadCommand({ Bucket: bucket, Key: target, ContentType: staged.contentType }),
        {
          abortSignal,
        },
      ),
    );
    const uploadId = created.UploadId;
    if (!uploadId)
      throw new OriginError(ORIGIN_MESSAGES.failed, { detail: 'S3 gave no upload id for a copy' });
    const count = Math.ceil(staged.size / COPY_PART_BYTES);
    const parts: Array<{ PartNumber: number; ETag: string }> = [];
    const partTimeoutMs = Math.max(MIN_COPY_TIMEOUT_MS, (COPY_PART_BYTES / MIN_COPY_BYTES_PER_SECOND) * 1000);
    let next = 1;
    let failed = false;
    const worker = async () => {
      while (!failed && next <= count) {
        const number = next++;
        const start = (number - 1) * COPY_PART_BYTES;
        const end = Math.min(staged.size, start + COPY_PART_BYTES) - 1;
        let answer: UploadPartCopyCommandOutput | undefined;
        try {
          answer = await call(
            (abortSignal) =>
              client.send(
                new UploadPartCopyCommand({
                  Bucket: bucket,
                  Key: target,
                  UploadId: uploadId,
                  PartNumber: number,
                  CopySource: copySource(bucket, from),
                  CopySourceRange: `bytes=${start}-${end}`,
                }),
                { abortSignal, requestTimeout: partTimeoutMs },
              ),
            undefined,
            partTimeoutMs,
          );
        } catch (error) {
          failed = true;
          throw error;
        }
        const etag = answer?.CopyPartResult?.ETag;
        if (!etag) {
          failed = true;
          throw new OriginError(ORIGIN_MESSAGES.failed, {
            detail: `S3 gave no ETag for copy part ${number}`,
          });
        }
        parts.push({ PartNumber: number, ETag: etag });
      }
    };
    try {
      // Every worker settles before the abort below, so no part lands after it.
      const outcomes = await Promise.allSettled(
        Array.from({ length: Math.min(COPY_PARTS_AT_ONCE, count) }, worker),
      );
      const failure = outcomes.find((outcome) => outcome.status === 'rejected');
      if (failure) throw (failure as PromiseRejectedResult).reason;
      parts.sort((a, b) => a.PartNumber - b.PartNumber);
      await call(
        (abortSignal) =>
          client.send(
            new CompleteMultipartUploadCommand({
              Bucket: bucket,
              Key: target,
              UploadId: uploadId,
              MultipartUpload: { Parts: parts },
            }),
            { abortSignal, requestTimeout: partTimeoutMs },
          ),
        undefined,
        partTimeoutMs,
      );
      return true;
    } catch (error) {
      await client
        .send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: target, UploadId: uploadId }))
        .catch(() => undefined);
      if (isNotImplemented(error)) return false;
      throw error;
    }
  }

  async sweepStaging(olderThanMs: number): Promise<number> {
    const { bucket, call, client } = this.#deps;
    const cutoff = Date.now() - olderThanMs;
    let removed = 0;
    const page = await this.#list(this.#stagingPrefix, '', { limit: 1000 }, false);
    for (const item of page.items) {
      if (item.lastModified && item.lastModified.getTime() < cutoff) {
        if (await this.#deleteKey(this.#stagingPrefix + item.path).catch(() => false)) removed++;
      }
    }
    // Parts of uploads whose process died; a lifecycle rule does the same on AWS.
    const uploads = await call((abortSignal) =>
      client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: this.#stagingPrefix }), {
        abortSignal,
      }),
    ).catch(() => undefined);
    for (const upload of uploads?.Uploads ?? []) {
      if (!upload.Key || !upload.UploadId || (upload.Initiated && upload.Initiated.getTime() >= cutoff))
        continue;
      await client
        .send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: upload.Key, UploadId: upload.UploadId }))
        .then(() => removed++)
        .catch(() => undefined);
    }
    return removed;
  }

  async discard(staged: StagedObject): Promise<void> {
    await this.#deleteKey(this.#stagingPrefix + checkSourcePath(staged.id)).catch(() => undefined);
  }

  async put(
    source: string,
    body: Readable,
    options: PutOptions & { ifAbsent?: boolean } = {},
  ): Promise<WrittenObject> {
    return putThroughStaging(this, source, body, options);
  }

  async delete(source: string): Promise<boolean> {
    const key = this.#deps.prefix + checkSourcePath(source);
    return this.#deleteKey(key);
  }

  /** Deletes a key; false when it did not exist (asked first: S3's delete answers 204 either way). */
  /** Whether `key` exists (`HeadObject`); other failures are thrown. */
  async #exists(key: string): Promise<boolean> {
    const { bucket, call, client } = this.#deps;
    return call((abortSignal) =>
      client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), { abortSignal }),
    ).then(
      () => true,
      (error) => {
        if (isMissing(error)) return false;
        throw error;
      },
    );
  }

  async #deleteKey(key: string): Promise<boolean> {
    const { bucket, call, client } = this.#deps;
    if (!(await this.#exists(key))) return false;
    await call((abortSignal) =>
      client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }), { abortSignal }),
    );
    return true;
  }

  listObjects(dir: string, options: { cursor?: string; limit: number }): Promise<ObjectPage> {
    return this.#list(this.#deps.prefix, listingPrefix(dir), options, true);
  }

  async #listKeys(
    base: string,
    prefix: string,
    options: { cursor?: string; limit: number },
    skipDots: boolean,
  ): Promise<{ keys: string[]; cursor?: string }> {
    const found = await this.#list(base, prefix, options, skipDots);
    return { keys: found.items.map((item) => item.path), cursor: found.cursor };
  }

  /** Keys under `base + prefix` after `cursor` (relative to `base`), up to `limit`, in key order. */
  async #list(
    base: string,
    prefix: string,
    options: { cursor?: string; limit: number },
    skipDots: boolean,
  ): Promise<ObjectPage> {
    const { bucket, call, client } = this.#deps;
    const items: ObjectPage['items'] = [];
    let startAfter = options.cursor === undefined ? undefined : base + options.cursor;
    let truncated = true;
    // Bounded: a bucket full of dot names cannot keep one listing looping.
    for (let round = 0; round < 200 && truncated && items.length < options.limit; round++) {
      const answer = await call((abortSignal) =>
        client.send(
          new ListObjectsV2Command({
            Bucket: bucket,
            Prefix: base + prefix,
            StartAfter: startAfter,
            MaxKeys: 1000,
          }),
          { abortSignal },
        ),
      );
      const contents = answer.Contents ?? [];
      truncated = answer.IsTruncated === true && contents.length > 0;
      for (const item of contents) {
        if (!item.Key) continue;
        startAfter = item.Key;
        const relative = item.Key.slice(base.length);
        if (item.Key.endsWith('/')) continue;
        if (skipDots && relative.split('/').some((segment) => segment.startsWith('.'))) continue;
        items.push({ path: relative, size: item.Size ?? 0, lastModified: item.LastModified });
        if (items.length >= options.limit) {
          truncated = truncated || item !== contents[contents.length - 1];
          break;
        }
      }
    }
    const last = items[items.length - 1];
    return { items, cursor: truncated && last ? last.path : undefined };
  }

  async #getRecord(key: string, signal?: AbortSignal): Promise<Buffer | undefined> {
    const { bucket, call, client } = this.#deps;
    try {
      const object = await call(
        (abortSignal) =>
          client.send(
            new GetObjectCommand({ Bucket: bucket, Key: this.#recordsPrefix + checkSourcePath(key) }),
            {
              abortSignal,
            },
          ),
        signal,
      );
      const bytes = await object.Body?.transformToByteArray();
      return Buffer.from(bytes ?? []);
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  async #putRecord(key: string, body: Buffer, ifAbsent: boolean): Promise<boolean> {
    const { bucket, call, client } = this.#deps;
    const target = this.#recordsPrefix + checkSourcePath(key);
    if (ifAbsent && (await this.#exists(target))) {
      return false;
    }
    try {
      await call((abortSignal) =>
        client.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: target,
            Body: body,
            ContentType: 'application/json',
            IfNoneMatch: ifAbsent ? '*' : undefined,
          }),
          { abortSignal },
        ),
      );
      return true;
    } catch (error) {
      if (ifAbsent && isPreconditionFailed(error)) return false;
      if (error instanceof ProxyError) throw error;
      throw new OriginError(ORIGIN_MESSAGES.failed, { cause: error });
    }
  }
}
