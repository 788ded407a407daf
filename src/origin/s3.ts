import type { Readable } from 'node:stream';
import {
  GetObjectCommand,
  type GetObjectCommandOutput,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import {
  NotFoundError,
  OriginError,
  OriginTimeoutError,
  ProxyError,
  RangeNotSatisfiableError,
} from '../errors.js';
import { chooseContentType } from './content-type.js';
import { callWithDeadline } from './deadline.js';
import { ORIGIN_MESSAGES } from './messages.js';
import { S3Writer } from './s3-writer.js';
import { checkSourcePath, listingPrefix } from './source-path.js';
import { windowStream } from './stream.js';
import type { ByteRange, Origin, OriginWriter, SourceListing, SourceStat } from './types.js';

/** Where an S3 origin reads from and how it reaches the service. */
export interface S3OriginOptions {
  bucket: string;
  /** Key prefix for every source, `''` or ending in `/` (added when missing). */
  prefix: string;
  /** S3-compatible endpoint (MinIO, s3rver, R2...); AWS when absent. */
  endpoint?: string;
  /** Path-style addressing, which most S3-compatible servers need. */
  forcePathStyle: boolean;
  region: string;
  /** Budget for an answer (headers), and for each silence while a body streams. */
  timeoutMs: number;
  /** A ready client (tests, shared connection pools); built from the options above when absent. */
  client?: S3Client;
}

interface S3ErrorShape {
  name?: string;
  Code?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number };
}

const NOT_FOUND_NAMES = new Set(['NoSuchKey', 'NotFound']);
const DENIED_NAMES = new Set([
  'AccessDenied',
  'Forbidden',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'InvalidToken',
]);
function isInvalidRange(error: unknown): boolean {
  const e = (error ?? {}) as S3ErrorShape;
  return e.name === 'InvalidRange' || e.$metadata?.httpStatusCode === 416;
}

/** Errors that mean the configured bucket is absent (a configuration fault, not a missing source). */
const MISSING_BUCKET = new WeakSet<OriginError>();

const TIMEOUT_NAMES = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException']);
const {
  unavailable: ORIGIN_UNAVAILABLE,
  refused: ORIGIN_REFUSED,
  failed: ORIGIN_FAILED,
  timeout: ORIGIN_TIMEOUT,
} = ORIGIN_MESSAGES;

/**
 * Sources from an S3 bucket (AWS, MinIO, s3rver... by configuration) with the standard AWS
 * credential chain. Ranged reads map to `GetObject` with `Range`, so a thumbnail reads only the
 * bytes it needs. This is the one place S3's error vocabulary is translated.
 */
export class S3Origin implements Origin {
  readonly kind = 's3';
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;
  readonly #timeoutMs: number;
  readonly #ownsClient: boolean;
  readonly #endpoint: string | undefined;
  #bucketSeen = false;
  /** Uploads and records (see `S3Writer`). */
  readonly writer: OriginWriter;

  constructor(options: S3OriginOptions) {
    this.#bucket = options.bucket;
    this.#prefix =
      options.prefix === '' || options.prefix.endsWith('/') ? options.prefix : `${options.prefix}/`;
    this.#timeoutMs = options.timeoutMs;
    this.#ownsClient = options.client === undefined;
    this.#endpoint = options.endpoint;
    this.#client =
      options.client ??
      new S3Client({
        region: options.region,
        endpoint: options.endpoint,
        forcePathStyle: options.forcePathStyle,
        // Integrity of a body is checked by its length; per-byte checksums would cost CPU on every read.
        responseChecksumValidation: 'WHEN_REQUIRED',
        requestChecksumCalculation: 'WHEN_REQUIRED',
        requestHandler: {
          connectionTimeout: options.timeoutMs,
          requestTimeout: options.timeoutMs,
          throwOnRequestTimeout: true,
          socketTimeout: options.timeoutMs,
        },
      });
    this.writer = new S3Writer({
      client: this.#client,
      bucket: this.#bucket,
      prefix: this.#prefix,
      call: (call, signal, timeoutMs) => this.#call(call, signal, timeoutMs),
      translate: (error) => this.#translate(error),
      readPrefix: (prefix) => new S3Origin({ ...options, prefix, client: this.#client }),
    });
  }

  #key(source: string): string {
    return this.#prefix + checkSourcePath(source);
  }

  /** The log-only account of a failed call: which bucket, through which endpoint, what S3 said. */
  #where(what: string): string {
    return `S3 ${what || 'request failed'} (bucket '${this.#bucket}'${this.#endpoint ? ` at ${this.#endpoint}` : ''})`;
  }

  #missingBucket(cause: unknown): OriginError {
    const error = new OriginError(ORIGIN_UNAVAILABLE, {
      cause,
      detail: `S3 bucket '${this.#bucket}' does not exist`,
    });
    MISSING_BUCKET.add(error);
    return error;
  }

  #translate(error: unknown): ProxyError {
    if (error instanceof ProxyError) return error;
    const e = (error ?? {}) as S3ErrorShape;
    const name = e.name ?? e.Code ?? '';
    const status = e.$metadata?.httpStatusCode;
    if (name === 'NoSuchBucket') {
      return this.#missingBucket(error);
    }
    if (NOT_FOUND_NAMES.has(name) || status === 404)
      return new NotFoundError('Source not found', { cause: error });
    if (status === 403 || DENIED_NAMES.has(name)) {
      return new OriginError(ORIGIN_REFUSED, {
        cause: error,
        detail:
          `S3 refused the proxy's credentials for bucket '${this.#bucket}' (${name || status}): ` +
          'check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY and the policy; a missing object also ' +
          'answers 403 without s3:ListBucket',
      });
    }
    if (TIMEOUT_NAMES.has(name) || e.code === 'ETIMEDOUT') {
      return new OriginTimeoutError(ORIGIN_TIMEOUT, { cause: error, detail: this.#where(name) });
    }
    return new OriginError(ORIGIN_FAILED, { cause: error, detail: this.#where(name) });
  }

  /**
   * Runs one SDK call under the origin timeout and the caller's signal. The deadline covers the
   * answer only: once `call` resolves the timer stops, so a long body keeps streaming (its
   * silences are bounded by the client's socket timeout instead).
   */
  async #call<T>(
    call: (abortSignal: AbortSignal) => Promise<T>,
    signal?: AbortSignal,
    timeoutMs = this.#timeoutMs,
  ): Promise<T> {
    return callWithDeadline(call, {
      signal,
      timeoutMs,
      timeoutDetail: () => this.#where('deadline'),
      translate: (error) => this.#translate(error),
    });
  }

  /**
   * Whether the bucket exists, asked once: a bare 404 to HeadObject cannot tell key from bucket.
   * Only a missing bucket changes the answer; other failures (say, no s3:ListBucket) leave the
   * source reported missing.
   */
  async #assertBucket(signal?: AbortSignal): Promise<void> {
    if (this.#bucketSeen) return;
    try {
      await this.ping(signal);
      this.#bucketSeen = true;
    } catch (error) {
      if (error instanceof OriginError && MISSING_BUCKET.has(error)) throw error;
    }
  }

  /** `HeadObject`: size, ETag as version, last modified and content type. */
  async stat(source: string, signal?: AbortSignal): Promise<SourceStat> {
    const key = this.#key(source);
    try {
      const head = await this.#call(
        (abortSignal) =>
          this.#client.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: key }), { abortSignal }),
        signal,
      );
      this.#bucketSeen = true;
      if (head.ContentLength === undefined)
        throw new OriginError(ORIGIN_FAILED, { detail: `S3 reported no size for '${key}'` });
      return {
        size: head.ContentLength,
        version: head.ETag ?? `${head.ContentLength}-${head.LastModified?.getTime() ?? 0}`,
        lastModified: head.LastModified,
        contentType: chooseContentType(head.ContentType, source),
      };
    } catch (error) {
      if (error instanceof NotFoundError) await this.#assertBucket(signal);
      throw error;
    }
  }

  /**
   * `GetObject` with `Range: bytes=start-end` (S3 clamps the end to the object). A start past
   * the end is `RangeNotSatisfiableError`; a body shorter than S3 announced errors the stream.
   */
  async read(source: string, range?: ByteRange, signal?: AbortSignal): Promise<Readable> {
    const key = this.#key(source);
    let object: GetObjectCommandOutput;
    try {
      object = await this.#call(
        (abortSignal) =>
          this.#client.send(
            new GetObjectCommand({
              Bucket: this.#bucket,
              Key: key,
              Range: range ? `bytes=${range.start}-${range.end}` : undefined,
            }),
            { abortSignal },
          ),
        signal,
      );
    } catch (error) {
      if (range && error instanceof ProxyError && isInvalidRange(error.cause)) {
        const { size } = await this.stat(source, signal);
        throw new RangeNotSatisfiableError(size);
      }
      throw error;
    }
    const body = object.Body as Readable | undefined;
    if (!body || typeof body.pipe !== 'function')
      throw new OriginError(ORIGIN_FAILED, { detail: `S3 returned no body for '${key}'` });
    return windowStream(body, {
      length: object.ContentLength,
      mapError: (error) => (signal?.aborted ? signal.reason : this.#translate(error)),
    });
  }

  /** `HeadBucket`: the bucket exists and the credentials are accepted. */
  async ping(signal?: AbortSignal): Promise<void> {
    try {
      await this.#call(
        (abortSignal) => this.#client.send(new HeadBucketCommand({ Bucket: this.#bucket }), { abortSignal }),
        signal,
      );
    } catch (error) {
      if (error instanceof NotFoundError) {
        throw this.#missingBucket(error.cause);
      }
      throw error;
    }
  }

  /** Objects under `dir` (`''` for the prefix root), in key order, at most `limit`. */
  async list(dir: string, limit: number): Promise<SourceListing[]> {
    const prefix = this.#prefix + listingPrefix(dir);
    const out: SourceListing[] = [];
    let token: string | undefined;
    // Each page returns up to 1000 keys; the bound keeps a huge bucket from looping for long.
    for (let page = 0; page < 1000 && out.length < limit; page++) {
      const answer = await this.#call((abortSignal) =>
        this.#client.send(
          new ListObjectsV2Command({
            Bucket: this.#bucket,
            Prefix: prefix,
            ContinuationToken: token,
            // A full page even for small limits: some S3-compatible servers fail on tiny MaxKeys.
            MaxKeys: 1000,
          }),
          { abortSignal },
        ),
      );
      for (const item of answer.Contents ?? []) {
        if (!item.Key || item.Key.endsWith('/') || out.length >= limit) continue;
        const path = item.Key.slice(this.#prefix.length);
        // Dot names are never served (see `sourcePathSegments`), so they are not listed either.
        if (path.split('/').some((segment) => segment.startsWith('.'))) continue;
        out.push({ path, size: item.Size ?? 0 });
      }
      token = answer.IsTruncated ? answer.NextContinuationToken : undefined;
      if (!token) break;
    }
    return out;
  }

  /** Closes the client's connections (only when this origin built the client). */
  destroy(): void {
    if (this.#ownsClient) this.#client.destroy();
  }
}
