import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { ProxyError, RangeNotSatisfiableError } from '../errors.js';
import type { ByteRange } from '../origin/types.js';
import type { CacheMeta } from './types.js';

/** sha256 hex of a store key: a fixed-length, filesystem- and S3-safe name for any key. */
export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/**
 * A failure of a cache tier. Always internal: a caller may keep serving without the cache. What
 * went wrong where (`message`: a folder, a bucket, a key) is log-only `detail`; should the error
 * still reach a client (a disk entry evicted while its answer starts), it says nothing more than
 * that the cache failed.
 */
export function cacheError(message: string, cause?: unknown): ProxyError {
  // A cache error wrapping another keeps the inner one's detail, not its public message.
  const inner =
    cause instanceof ProxyError ? (cause.detail ?? cause.message) : (cause as Error | undefined)?.message;
  const detail = cause instanceof Error ? `: ${inner}` : '';
  return new ProxyError(500, 'cache_error', 'The cache failed', {
    cause,
    detail: `${message}${detail}`,
    internal: true,
  });
}

/**
 * The inclusive range to read from a body of `size` bytes; an `end` past the body is clamped (as
 * HTTP does). A range that starts outside the body is a `RangeNotSatisfiableError`.
 */
export function resolveRange(range: ByteRange | undefined, size: number): ByteRange | undefined {
  if (range === undefined) return undefined;
  const { start, end } = range;
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end < start || start >= size) {
    throw new RangeNotSatisfiableError(size);
  }
  return { start, end: Math.min(end, size - 1) };
}

/** Rejects a meta that disagrees with the body it describes, which would make the entry unservable. */
export function assertSizeMatches(meta: CacheMeta, actualSize: number, key: string): void {
  if (meta.size !== actualSize) {
    throw cacheError(`Cache body for ${key} is ${actualSize} bytes but its meta says ${meta.size}`);
  }
}

/** Reads a whole stream into memory; only for bodies already known to be small. */
export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(chunks);
}

/** Keeps only JSON-safe, well-typed meta; anything else is treated as a corrupt entry. */
export function parseMeta(value: unknown): CacheMeta | undefined {
  if (!value || typeof value !== 'object') return undefined;
  const meta = value as Record<string, unknown>;
  if (typeof meta.contentType !== 'string' || typeof meta.etag !== 'string') return undefined;
  if (!Number.isSafeInteger(meta.size) || (meta.size as number) < 0) return undefined;
  if (typeof meta.lastModified !== 'number' || !Number.isFinite(meta.lastModified)) return undefined;
  const parsed: CacheMeta = {
    contentType: meta.contentType,
    size: meta.size as number,
    etag: meta.etag,
    lastModified: meta.lastModified,
  };
  if (meta.headers !== undefined) {
    if (!meta.headers || typeof meta.headers !== 'object' || Array.isArray(meta.headers)) return undefined;
    const headers: Record<string, string> = {};
    for (const [name, headerValue] of Object.entries(meta.headers)) {
      if (typeof headerValue !== 'string') return undefined;
      headers[name] = headerValue;
    }
    parsed.headers = headers;
  }
  return parsed;
}

/** Runs async work for one key at a time, so an overwrite, a delete and an eviction never interleave. */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<unknown>>();

  /** Runs `work` once every earlier call for `key` has settled. */
  async run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(work, work);
    const tail = result.catch(() => undefined);
    this.tails.set(key, tail);
    try {
      return await result;
    } finally {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}

/** Maps `items` through `work` with at most `limit` calls in flight; results keep the input order. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  async function worker(): Promise<void> {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!);
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** The `code` of a Node system error (`ENOENT`, `ENOSPC`...), if it has one. */
export function errorCode(error: unknown): string | undefined {
  return error && typeof error === 'object' && 'code' in error && typeof error.code === 'string'
    ? error.code
    : undefined;
}

/**
 * A `CacheMeta` as one header-safe value (base64url JSON): object stores keep it in user metadata,
 * whose values must be ASCII.
 */
export function encodeMetaHeader(meta: CacheMeta): string {
  return Buffer.from(JSON.stringify(meta)).toString('base64url');
}

/** The `CacheMeta` of `encodeMetaHeader`, or undefined when the value is absent or not ours. */
export function decodeMetaHeader(value: string | undefined): CacheMeta | undefined {
  if (!value) return undefined;
  try {
    return parseMeta(JSON.parse(Buffer.from(value, 'base64url').toString('utf8')));
  } catch {
    return undefined;
  }
}
