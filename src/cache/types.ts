import type { Readable } from 'node:stream';
import type { ByteRange } from '../origin/types.js';

/** Which tier answered; surfaced in `X-Cache` (`HIT-S3` also for a `gs://` result bucket). */
export type CacheTier = 'memory' | 'disk' | 's3' | 'azure';

/** What is stored beside every cached body. */
export interface CacheMeta {
  contentType: string;
  /** Body size in bytes. */
  size: number;
  /** Strong ETag, quoted (`"abc"`). */
  etag: string;
  /** Milliseconds since the epoch the output was produced (or the source's last-modified). */
  lastModified: number;
  /** Extra headers to replay (e.g. `Vary`), lower-case names. */
  headers?: Record<string, string>;
}

/** A cached output ready to be served. */
export interface CachedObject {
  readonly meta: CacheMeta;
  readonly tier: CacheTier;
  /** The whole body, when the tier holds it in memory. */
  readonly body?: Buffer;
  /** A local file holding the body (disk tier), for zero-copy serving. */
  readonly path?: string;
  /** A stream of the body or part of it. */
  open(range?: ByteRange): Promise<Readable>;
}

/**
 * A body to store: bytes in memory or a complete local file (moved or copied, never partial).
 * A store may move a `{ file }` away (the disk tier renames it into the cache); the caller removes
 * the file afterwards if it still exists. Writing it under the disk tier's `tempDir` makes that
 * move an atomic rename.
 */
export type CacheBody = { buffer: Buffer } | { file: string };

/**
 * One cache tier. `put` is all-or-nothing: a reader sees either the whole new entry or none.
 * Stores never throw for a miss; `get` returns `undefined`.
 */
export interface CacheStore {
  readonly tier: CacheTier;
  get(key: string): Promise<CachedObject | undefined>;
  put(key: string, meta: CacheMeta, body: CacheBody): Promise<void>;
  delete(key: string): Promise<void>;
}
