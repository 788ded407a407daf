import { randomBytes } from 'node:crypto';
import type { Dirent } from 'node:fs';
import {
  copyFile,
  mkdir,
  open as openFile,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  utimes,
} from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { ProxyError } from '../errors.js';
import type { ByteRange } from '../origin/types.js';
import type { CacheBody, CachedObject, CacheMeta, CacheStore, CacheTier } from './types.js';
import {
  assertSizeMatches,
  cacheError,
  errorCode,
  hashKey,
  KeyedMutex,
  mapLimit,
  parseMeta,
  resolveRange,
} from './util.js';

/** Where and how much the disk tier keeps. */
export interface DiskStoreOptions {
  /** The cache folder; created if missing. One process owns it at a time. */
  dir: string;
  /** Bytes (bodies plus their meta files) kept before least recently used entries are evicted. */
  maxBytes: number;
  /**
   * How often a hit re-stamps the entry's meta file, so least-recently-used order survives a
   * restart without a write per hit. Default one minute.
   */
  touchIntervalMs?: number;
}

/** The meta file beside every body: the commit record of an entry. */
interface MetaRecord {
  v: 1;
  /** The full key, so a hash collision or a stray file can never be served for another key. */
  key: string;
  /** File name of the body in the same shard folder. */
  body: string;
  meta: CacheMeta;
}

/** What the in-memory index keeps per entry; Map order is the LRU order (oldest first). */
interface IndexEntry {
  /** Body plus meta file bytes. */
  bytes: number;
  body: string;
  touchedAt: number;
  /** The meta record once read: a put replaces the entry object, so this never goes stale. */
  record?: MetaRecord;
}

const SHARD_NAME = /^[0-9a-f]{2}$/;
const META_NAME = /^([0-9a-f]{64})\.json$/;
/** `<sha256>.<16 hex>`: every put writes its body under a fresh name, so readers never see it change. */
const BODY_NAME = /^([0-9a-f]{64})\.[0-9a-f]{16}$/;
const TEMP_FOLDER = 'tmp';
/** Parallel file reads while rebuilding the index at start-up. */
const REBUILD_CONCURRENCY = 32;

/**
 * The disk tier: `<dir>/<aa>/<sha256(key)>.json` (meta) naming its body `<sha256(key)>.<random>`.
 *
 * A put writes the body to `<dir>/tmp`, fsyncs and renames it to a fresh name no reader knows yet,
 * then writes the meta the same way and renames it over the old one: that rename is the commit
 * point, so a reader sees the old entry or the new one, never a partial body. Files a crash leaves
 * behind (temp files, bodies no meta names) are removed by `open`.
 */
export class DiskStore implements CacheStore {
  readonly tier: CacheTier = 'disk';
  /** Scratch folder on the cache's filesystem; renames from here are atomic. Emptied at `open`. */
  readonly tempDir: string;
  private readonly dir: string;
  private readonly maxBytes: number;
  private readonly touchIntervalMs: number;
  private readonly index = new Map<string, IndexEntry>();
  private readonly locks = new KeyedMutex();
  private totalBytes = 0;

  private constructor(dir: string, options: DiskStoreOptions) {
    this.dir = dir;
    this.tempDir = path.join(dir, TEMP_FOLDER);
    this.maxBytes = options.maxBytes;
    this.touchIntervalMs = options.touchIntervalMs ?? 60_000;
  }

  /**
   * Opens (creating if needed) the cache folder: removes temp files a previous crash left, rebuilds
   * the index from the meta files (dropping entries whose body is missing or of the wrong size)
   * and evicts down to `maxBytes`. Rejects with a `ProxyError` if the folder cannot be used.
   */
  static async open(options: DiskStoreOptions): Promise<DiskStore> {
    const store = new DiskStore(path.resolve(options.dir), options);
    try {
      await mkdir(store.dir, { recursive: true });
      await rm(store.tempDir, { recursive: true, force: true });
      await mkdir(store.tempDir, { recursive: true });
      await store.rebuildIndex();
    } catch (error) {
      throw cacheError(`Cannot open the disk cache at ${store.dir}`, error);
    }
    await store.enforceCap();
    return store;
  }

  /**
   * The entry, or `undefined`. A body whose size disagrees with its meta (truncated by a crash or
   * by hand) is deleted and reported as a miss. The returned `path` stays valid until the entry
   * is evicted or overwritten; `open` then rejects and the caller should treat it as a miss.
   */
  async get(key: string): Promise<CachedObject | undefined> {
    const id = hashKey(key);
    const entry = this.index.get(id);
    if (!entry) return undefined;
    const metaPath = this.metaPath(id);
    let record: MetaRecord | undefined = entry.record;
    if (!record) {
      try {
        record = parseRecord(await readFile(metaPath, 'utf8'), id);
      } catch (error) {
        if (errorCode(error) !== 'ENOENT') throw cacheError(`Disk cache could not read ${metaPath}`, error);
      }
    }
    if (!record || record.key !== key) {
      await this.discardIfCurrent(id, entry.body);
      return undefined;
    }
    const bodyPath = path.join(path.dirname(metaPath), record.body);
    let bodySize: number | undefined;
    try {
      bodySize = (await stat(bodyPath)).size;
    } catch (error) {
      if (errorCode(error) !== 'ENOENT') throw cacheError(`Disk cache could not stat ${bodyPath}`, error);
    }
    if (bodySize !== record.meta.size) {
      await this.discardIfCurrent(id, record.body);
      return undefined;
    }
    // The body's size is still checked on every hit: it is what catches a file cut short under us.
    entry.record = record;
    this.markUsed(id, metaPath);
    return diskObject(record.meta, bodyPath);
  }

  /**
   * Stores the entry atomically, then evicts least recently used entries down to `maxBytes`. A
   * `{ file }` is moved into the cache (copied when it is on another filesystem); the caller
   * removes it afterwards if it still exists. A body larger than the whole cache is skipped. On
   * failure (ENOSPC, EACCES, a vanished file...) it rejects with a `ProxyError` and leaves no file
   * behind; the previous entry for the key, if any, stays.
   */
  async put(key: string, meta: CacheMeta, body: CacheBody): Promise<void> {
    const cleanMeta = parseMeta(meta);
    if (!cleanMeta) throw cacheError(`Refusing to cache ${key}: its meta is not well formed`);
    if (cleanMeta.size > this.maxBytes) return;
    const id = hashKey(key);
    await this.locks.run(id, () => this.write(key, id, cleanMeta, body));
    await this.enforceCap();
  }

  /** Removes the entry; absent keys are fine. */
  async delete(key: string): Promise<void> {
    const id = hashKey(key);
    await this.locks.run(id, async () => {
      const entry = this.index.get(id);
      try {
        // Meta first: once it is gone no reader can find the body.
        await rm(this.metaPath(id), { force: true });
        if (entry) await rm(path.join(this.shardDir(id), entry.body), { force: true });
      } catch (error) {
        throw cacheError(`Disk cache could not delete ${key}`, error);
      }
      this.forget(id);
    });
  }

  /** Whether a small file can be written and synced in the cache folder now (for `/readyz`). */
  async writable(): Promise<boolean> {
    const probe = path.join(this.tempDir, `probe-${randomName()}`);
    try {
      await writeDurably(probe, Buffer.from('ok'));
      return true;
    } catch {
      return false;
    } finally {
      await rm(probe, { force: true }).catch(() => undefined);
    }
  }

  /** Entries and bytes (bodies plus meta files) currently indexed. */
  stats(): { entries: number; bytes: number } {
    return { entries: this.index.size, bytes: this.totalBytes };
  }

  private shardDir(id: string): string {
    return path.join(this.dir, id.slice(0, 2));
  }

  private metaPath(id: string): string {
    return path.join(this.shardDir(id), `${id}.json`);
  }

  private async write(key: string, id: string, meta: CacheMeta, body: CacheBody): Promise<void> {
    const tempBody = path.join(this.tempDir, randomName());
    const tempMeta = path.join(this.tempDir, `${randomName()}.json`);
    const shardDir = this.shardDir(id);
    const bodyName = `${id}.${randomBytes(8).toString('hex')}`;
    const bodyPath = path.join(shardDir, bodyName);
    let bodyPlaced = false;
    try {
      if ('buffer' in body) {
        assertSizeMatches(meta, body.buffer.length, key);
        await writeDurably(tempBody, body.buffer);
      } else {
        await moveOrCopy(body.file, tempBody);
        assertSizeMatches(meta, await syncFile(tempBody), key);
      }
      await mkdir(shardDir, { recursive: true });
      await rename(tempBody, bodyPath);
      bodyPlaced = true;
      const record: MetaRecord = { v: 1, key, body: bodyName, meta };
      const recordBytes = Buffer.from(JSON.stringify(record));
      await writeDurably(tempMeta, recordBytes);
      await rename(tempMeta, this.metaPath(id));
      bodyPlaced = false;
      const previous = this.index.get(id);
      this.forget(id);
      this.remember(id, { bytes: meta.size + recordBytes.length, body: bodyName, touchedAt: Date.now() });
      if (previous && previous.body !== bodyName) {
        await rm(path.join(shardDir, previous.body), { force: true }).catch(() => undefined);
      }
    } catch (error) {
      await Promise.all([
        rm(tempBody, { force: true }),
        rm(tempMeta, { force: true }),
        bodyPlaced ? rm(bodyPath, { force: true }) : undefined,
      ]).catch(() => undefined);
      if (error instanceof ProxyError) throw error;
      throw cacheError(`Disk cache could not store ${key}`, error);
    }
  }

  private remember(id: string, entry: IndexEntry): void {
    this.index.set(id, entry);
    this.totalBytes += entry.bytes;
  }

  private forget(id: string): void {
    const entry = this.index.get(id);
    if (!entry) return;
    this.index.delete(id);
    this.totalBytes -= entry.bytes;
  }

  /** Moves the entry to the young end of the LRU and, now and then, stamps its meta file's mtime. */
  private markUsed(id: string, metaPath: string): void {
    const entry = this.index.get(id);
    if (!entry) return;
    this.index.delete(id);
    this.index.set(id, entry);
    const now = Date.now();
    if (now - entry.touchedAt >= this.touchIntervalMs) {
      entry.touchedAt = now;
      // Best effort: a lost stamp only makes the entry look older after a restart.
      utimes(metaPath, now / 1000, now / 1000).catch(() => undefined);
    }
  }

  /** Removes a bad entry, unless a put replaced it meanwhile (then the new entry is fine). */
  private async discardIfCurrent(id: string, bodyName: string): Promise<void> {
    await this.locks.run(id, async () => {
      const entry = this.index.get(id);
      if (entry && entry.body !== bodyName) return;
      await this.removeFiles(id, bodyName);
      this.forget(id);
    });
  }

  private async removeFiles(id: string, bodyName: string): Promise<void> {
    await rm(this.metaPath(id), { force: true }).catch(() => undefined);
    await rm(path.join(this.shardDir(id), bodyName), { force: true }).catch(() => undefined);
  }

  /** Evicts least recently used entries until the cache fits; a failed unlink is left for the next start. */
  private async enforceCap(): Promise<void> {
    // Bounded: every pass removes one entry from the index.
    while (this.totalBytes > this.maxBytes) {
      const oldest = this.index.entries().next().value;
      if (!oldest) break;
      const [id, entry] = oldest;
      await this.locks.run(id, async () => {
        if (this.index.get(id) !== entry) return;
        this.forget(id);
        await this.removeFiles(id, entry.body);
      });
    }
  }

  private async rebuildIndex(): Promise<void> {
    const shards = (await readdir(this.dir, { withFileTypes: true })).filter(
      (dirent) => dirent.isDirectory() && SHARD_NAME.test(dirent.name),
    );
    const found = (await mapLimit(shards, 4, (shard) => this.scanShard(shard))).flat();
    found.sort((a, b) => a.entry.touchedAt - b.entry.touchedAt);
    for (const { id, entry } of found) this.remember(id, entry);
  }

  /** The valid entries of one shard folder; removes what a crash or a truncation left invalid. */
  private async scanShard(shard: Dirent): Promise<Array<{ id: string; entry: IndexEntry }>> {
    const shardDir = path.join(this.dir, shard.name);
    const names = await readdir(shardDir);
    const referenced = new Set<string>();
    const metas = names.filter((name) => META_NAME.test(name));
    const entries = await mapLimit(metas, REBUILD_CONCURRENCY, async (name) => {
      const id = META_NAME.exec(name)![1]!;
      const metaPath = path.join(shardDir, name);
      try {
        const [text, metaInfo] = await Promise.all([readFile(metaPath, 'utf8'), stat(metaPath)]);
        const record = parseRecord(text, id);
        if (record && hashKey(record.key) === id) {
          const bodyInfo = await stat(path.join(shardDir, record.body)).catch(() => undefined);
          if (bodyInfo?.size === record.meta.size) {
            referenced.add(record.body);
            const entry = {
              bytes: record.meta.size + metaInfo.size,
              body: record.body,
              touchedAt: metaInfo.mtimeMs,
            };
            return { id, entry };
          }
        }
      } catch (error) {
        if (errorCode(error) === 'ENOENT') return undefined;
        throw error;
      }
      // A meta that is unreadable or names a missing or truncated body: the entry is unusable.
      await rm(metaPath, { force: true });
      return undefined;
    });
    const orphans = names.filter((name) => BODY_NAME.test(name) && !referenced.has(name));
    await mapLimit(orphans, REBUILD_CONCURRENCY, (name) => rm(path.join(shardDir, name), { force: true }));
    return entries.filter((item) => item !== undefined);
  }
}

/** Chunk size when streaming a cached body to a client. */
const READ_CHUNK_BYTES = 512 * 1024;

function diskObject(meta: CacheMeta, bodyPath: string): CachedObject {
  return {
    meta,
    tier: 'disk',
    path: bodyPath,
    async open(range?: ByteRange): Promise<Readable> {
      const resolved = resolveRange(range, meta.size);
      let handle: Awaited<ReturnType<typeof openFile>>;
      try {
        handle = await openFile(bodyPath, 'r');
      } catch (error) {
        throw cacheError(`Disk cache entry ${bodyPath} is gone (evicted or replaced)`, error);
      }
      // The handle is closed by the stream when it ends, fails or is destroyed. Large reads (the
      // default is 64 KiB) cut the syscalls per megabyte served by a factor of eight.
      return handle.createReadStream({
        highWaterMark: READ_CHUNK_BYTES,
        ...(resolved ? { start: resolved.start, end: resolved.end } : {}),
      });
    },
  };
}

function parseRecord(text: string, id: string): MetaRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!value || typeof value !== 'object') return undefined;
  const record = value as Record<string, unknown>;
  const meta = parseMeta(record.meta);
  if (record.v !== 1 || typeof record.key !== 'string' || !meta) return undefined;
  if (typeof record.body !== 'string' || !BODY_NAME.test(record.body) || !record.body.startsWith(id)) {
    return undefined;
  }
  return { v: 1, key: record.key, body: record.body, meta };
}

function randomName(): string {
  return randomBytes(12).toString('hex');
}

/** Creates `file` with `data` and fsyncs it, so a rename after this never exposes unwritten bytes. */
async function writeDurably(file: string, data: Buffer): Promise<void> {
  const handle = await openFile(file, 'wx');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Fsyncs an existing file and returns its size. */
async function syncFile(file: string): Promise<number> {
  const handle = await openFile(file, 'r');
  try {
    await handle.sync();
    return (await handle.stat()).size;
  } finally {
    await handle.close();
  }
}

/** Renames `source` to `target`, or copies it when they are on different filesystems. */
async function moveOrCopy(source: string, target: string): Promise<void> {
  try {
    await rename(source, target);
  } catch (error) {
    if (errorCode(error) !== 'EXDEV') throw error;
    await copyFile(source, target);
  }
}
