import { readFile, stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { LRUCache } from 'lru-cache';
import type { ByteRange } from '../origin/types.js';
import type { CacheBody, CachedObject, CacheMeta, CacheStore, CacheTier } from './types.js';
import { assertSizeMatches, cacheError, resolveRange } from './util.js';

/** Limits of the memory tier. */
export interface MemoryStoreOptions {
  /** Total bytes of bodies (plus a small per-entry overhead) kept. */
  maxBytes: number;
  /** Largest single body kept; bigger puts are silently skipped. */
  maxItemBytes: number;
}

interface MemoryEntry {
  meta: CacheMeta;
  body: Buffer;
}

/** Approximate bookkeeping cost of one entry (key, meta object, LRU slots), so tiny bodies still count. */
const ENTRY_OVERHEAD_BYTES = 512;

/** The fastest tier: whole bodies in an LRU bounded by bytes. */
export class MemoryStore implements CacheStore {
  readonly tier: CacheTier = 'memory';
  private readonly maxItemBytes: number;
  private readonly entries: LRUCache<string, MemoryEntry>;

  constructor(options: MemoryStoreOptions) {
    this.maxItemBytes = options.maxItemBytes;
    this.entries = new LRUCache<string, MemoryEntry>({
      maxSize: Math.max(1, options.maxBytes),
      sizeCalculation: (entry, key) => entry.body.length + key.length + ENTRY_OVERHEAD_BYTES,
    });
  }

  /** The entry, or `undefined`; a hit makes it the most recently used. */
  async get(key: string): Promise<CachedObject | undefined> {
    const entry = this.entries.get(key);
    return entry ? memoryObject(entry) : undefined;
  }

  /**
   * Keeps the body if it is no larger than `maxItemBytes` (else does nothing). A `{ file }` is read,
   * never moved, and only after its size is known to fit.
   */
  async put(key: string, meta: CacheMeta, body: CacheBody): Promise<void> {
    if (meta.size > this.maxItemBytes) return;
    let bytes: Buffer;
    if ('buffer' in body) {
      bytes = body.buffer;
    } else {
      try {
        const info = await stat(body.file);
        if (info.size > this.maxItemBytes) return;
        bytes = await readFile(body.file);
      } catch (error) {
        throw cacheError(`Memory cache could not read ${body.file}`, error);
      }
    }
    assertSizeMatches(meta, bytes.length, key);
    if (bytes.length > this.maxItemBytes) return;
    // A private copy of the meta, so a caller mutating its object cannot change what is served.
    this.entries.set(key, { meta: structuredClone(meta), body: bytes });
  }

  /** Forgets the entry; absent keys are fine. */
  async delete(key: string): Promise<void> {
    this.entries.delete(key);
  }

  /** Entry count and bytes accounted (bodies plus overhead), for metrics. */
  stats(): { entries: number; bytes: number } {
    return { entries: this.entries.size, bytes: this.entries.calculatedSize };
  }
}

function memoryObject(entry: MemoryEntry): CachedObject {
  return {
    meta: entry.meta,
    tier: 'memory',
    body: entry.body,
    async open(range?: ByteRange) {
      const resolved = resolveRange(range, entry.body.length);
      const bytes = resolved ? entry.body.subarray(resolved.start, resolved.end + 1) : entry.body;
      // An array, because Readable.from(buffer) would emit one chunk per byte.
      return Readable.from([bytes], { objectMode: false });
    },
  };
}
