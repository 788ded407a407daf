import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  type HeadObjectCommandOutput,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import type { ByteRange } from '../origin/types.js';
import type { CacheBody, CachedObject, CacheMeta, CacheStore, CacheTier } from './types.js';
import {
  assertSizeMatches,
  cacheError,
  decodeMetaHeader,
  encodeMetaHeader,
  hashKey,
  parseMeta,
  resolveRange,
} from './util.js';

/** Where the shared result tier lives. */
export interface S3StoreOptions {
  /** A client to share (the caller owns it), or the configuration to build one (the store owns it). */
  client?: S3Client | S3ClientConfig;
  bucket: string;
  /** Key prefix inside the bucket, e.g. `results/` (include the trailing slash). */
  prefix?: string;
}

/** User-metadata name (`x-amz-meta-cache-meta`) holding the entry's `CacheMeta`. */
const META_HEADER = 'cache-meta';

/**
 * The shared result tier: one object per entry at `<prefix><aa>/<sha256(key)>`, its `CacheMeta`
 * as base64url JSON in user metadata (header values must be ASCII). S3 replaces an object
 * atomically, so a reader never sees a partial body. Absent objects are misses; every other
 * failure rejects with a `ProxyError` (`cache_error`) for the caller to log.
 */
export class S3Store implements CacheStore {
  readonly tier: CacheTier = 's3';
  private readonly client: S3Client;
  private readonly ownsClient: boolean;
  private readonly bucket: string;
  private readonly prefix: string;

  constructor(options: S3StoreOptions) {
    this.ownsClient = !(options.client instanceof S3Client);
    this.client =
      options.client instanceof S3Client
        ? options.client
        : // Checksums only when required: streamed uploads with checksum trailers (aws-chunked) are
          // stored garbled by some S3-compatible servers; `get` checks lengths against the meta anyway.
          new S3Client({ requestChecksumCalculation: 'WHEN_REQUIRED', ...options.client });
    this.bucket = options.bucket;
    this.prefix = options.prefix ?? '';
  }

  /** HeadObject; the body is fetched only when `open` is called (ranged when asked). */
  async get(key: string): Promise<CachedObject | undefined> {
    const objectKey = this.objectKey(key);
    let head: HeadObjectCommandOutput;
    try {
      head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: objectKey }));
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw cacheError(`S3 cache could not read s3://${this.bucket}/${objectKey}`, error);
    }
    const meta = decodeMetaHeader(head.Metadata?.[META_HEADER]);
    // An object without our meta, or whose length disagrees with it, is not an entry we wrote.
    if (!meta || head.ContentLength !== meta.size) return undefined;
    return this.s3Object(objectKey, meta, head.ETag);
  }

  /** PutObject from the buffer or a stream of the file (the file is read, never moved). */
  async put(key: string, meta: CacheMeta, body: CacheBody): Promise<void> {
    const cleanMeta = parseMeta(meta);
    if (!cleanMeta) throw cacheError(`Refusing to cache ${key}: its meta is not well formed`);
    const objectKey = this.objectKey(key);
    try {
      let payload: Buffer | Readable;
      if ('buffer' in body) {
        assertSizeMatches(cleanMeta, body.buffer.length, key);
        payload = body.buffer;
      } else {
        assertSizeMatches(cleanMeta, (await stat(body.file)).size, key);
        payload = createReadStream(body.file);
      }
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: objectKey,
          Body: payload,
          ContentLength: cleanMeta.size,
          ContentType: cleanMeta.contentType,
          Metadata: { [META_HEADER]: encodeMetaHeader(cleanMeta) },
        }),
      );
    } catch (error) {
      throw cacheError(`S3 cache could not write s3://${this.bucket}/${objectKey}`, error);
    }
  }

  /** DeleteObject; absent objects are fine. */
  async delete(key: string): Promise<void> {
    const objectKey = this.objectKey(key);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: objectKey }));
    } catch (error) {
      if (isNotFound(error)) return;
      throw cacheError(`S3 cache could not delete s3://${this.bucket}/${objectKey}`, error);
    }
  }

  /** Releases the client's sockets if this store created it. */
  close(): void {
    if (this.ownsClient) this.client.destroy();
  }

  private objectKey(key: string): string {
    const id = hashKey(key);
    return `${this.prefix}${id.slice(0, 2)}/${id}`;
  }

  private s3Object(objectKey: string, meta: CacheMeta, etag: string | undefined): CachedObject {
    const { client, bucket } = this;
    return {
      meta,
      tier: 's3',
      async open(range?: ByteRange): Promise<Readable> {
        const resolved = resolveRange(range, meta.size);
        let body: unknown;
        let contentRange: string | undefined;
        try {
          const output = await client.send(
            new GetObjectCommand({
              Bucket: bucket,
              Key: objectKey,
              Range: resolved ? `bytes=${resolved.start}-${resolved.end}` : undefined,
              // The object we described in `get`, not one written since with other meta.
              IfMatch: etag,
            }),
          );
          body = output.Body;
          contentRange = output.ContentRange;
          // Checked here too, for servers that ignore If-Match.
          if (etag && output.ETag && output.ETag !== etag) {
            if (body instanceof Readable) body.destroy();
            throw new Error(`object changed since it was looked up (ETag ${output.ETag}, expected ${etag})`);
          }
        } catch (error) {
          throw cacheError(`S3 cache could not read s3://${bucket}/${objectKey}`, error);
        }
        if (!(body instanceof Readable))
          throw cacheError(`S3 cache got no body for s3://${bucket}/${objectKey}`);
        // HTTP lets a server ignore Range (a 200 with the whole object) or send more than asked
        // (some S3-compatible servers do); cut the asked range out of whatever came.
        const servedFrom = contentRangeStart(contentRange) ?? 0;
        const wantedFrom = resolved?.start ?? 0;
        if (servedFrom > wantedFrom) {
          body.destroy();
          throw cacheError(
            `S3 cache served ${contentRange} for s3://${bucket}/${objectKey}, not the asked range`,
          );
        }
        const expected = resolved ? resolved.end - resolved.start + 1 : meta.size;
        const checked = new ExactSlice(wantedFrom - servedFrom, expected, `s3://${bucket}/${objectKey}`);
        // Errors travel to `checked`, which is what the caller reads.
        pipeline(body, checked).catch(() => undefined);
        return checked;
      },
    };
  }
}

/** Skips `skipBytes`, passes the next `takeBytes`, drops the rest, and fails if fewer came. */
class ExactSlice extends Transform {
  private position = 0;
  private passed = 0;
  constructor(
    private readonly skipBytes: number,
    private readonly takeBytes: number,
    private readonly label: string,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const from = Math.max(0, this.skipBytes - this.position);
    const to = Math.min(chunk.length, this.skipBytes + this.takeBytes - this.position);
    this.position += chunk.length;
    if (to > from) {
      this.passed += to - from;
      callback(null, chunk.subarray(from, to));
    } else {
      callback();
    }
  }

  override _flush(callback: TransformCallback): void {
    if (this.passed === this.takeBytes) callback();
    else
      callback(
        cacheError(`S3 cache body of ${this.label} was ${this.passed} bytes, expected ${this.takeBytes}`),
      );
  }
}

/** The first byte of a `Content-Range: bytes a-b/n` header, if there is one. */
function contentRangeStart(header: string | undefined): number | undefined {
  const match = header ? /^bytes (\d+)-\d+\/(?:\d+|\*)$/.exec(header.trim()) : null;
  return match ? Number(match[1]) : undefined;
}

function isNotFound(error: unknown): boolean {
  if (!error || typeof error !== 'object') return false;
  const { name, $metadata } = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return name === 'NotFound' || name === 'NoSuchKey' || $metadata?.httpStatusCode === 404;
}
