import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { copyFile, link, mkdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { CacheBody, CachedObject, CacheMeta, CacheStore, CacheTier } from './types.js';
import { KeyedMutex, readAll } from './util.js';

/** How the tiers cooperate. */
export interface TieredStoreOptions {
  /** Largest body written to, or promoted into, the memory tier; bigger ones skip it. */
  promoteMaxBytes: number;
  /** Receives every failure that does not reach a caller: background writes, promotions, skipped tiers. */
  onError?: (error: unknown) => void;
  /**
   * Scratch folder for bodies staged between tiers (an S3 hit on its way to disk, a file on its
   * way to S3). Use the disk tier's `tempDir`: renames from there are atomic and leftovers are
   * removed at start-up. Default: the OS temp folder.
   */
  tempDir?: string;
}

/** A store with an optional health check, as the disk tier has. */
interface MaybeWritable {
  writable?: () => Promise<boolean>;
}

/** A store that can report its size, as memory and disk do. */
interface MaybeStats {
  stats?: () => { entries: number; bytes: number };
}

/** A store holding sockets or handles, as S3 does. */
interface MaybeClosable {
  close?: () => void | Promise<void>;
}

/**
 * Reads through the tiers fastest first and writes through them all. A hit in a slower tier is
 * copied into the faster ones in the background; S3 writes happen in the background too, so
 * neither ever delays a response. A tier that fails a read is skipped (a miss for that tier) and
 * reported through `onError`.
 */
export class TieredStore implements CacheStore {
  /** The fastest tier's name; each `CachedObject` says which tier actually answered. */
  readonly tier: CacheTier;
  /** The tiers, fastest first. */
  readonly stores: readonly CacheStore[];
  private readonly promoteMaxBytes: number;
  private readonly onError: (error: unknown) => void;
  private readonly tempDir: string;
  private readonly background = new Set<Promise<void>>();
  /** Orders background writes and deletes per key, so a late upload never resurrects or reverts an entry. */
  private readonly remoteWrites = new KeyedMutex();
  /** Keys being promoted now, so a burst of hits on one cold key copies it once. */
  private readonly promoting = new Set<string>();

  constructor(stores: CacheStore[], options: TieredStoreOptions) {
    if (stores.length === 0) throw new RangeError('TieredStore needs at least one store');
    this.stores = [...stores];
    this.tier = stores[0]!.tier;
    this.promoteMaxBytes = options.promoteMaxBytes;
    this.onError = options.onError ?? (() => undefined);
    this.tempDir = options.tempDir ?? os.tmpdir();
  }

  /** The first hit, fastest tier first; promotion into faster tiers starts in the background. */
  async get(key: string): Promise<CachedObject | undefined> {
    for (const [position, store] of this.stores.entries()) {
      let hit: CachedObject | undefined;
      try {
        hit = await store.get(key);
      } catch (error) {
        this.report(error);
        continue;
      }
      if (!hit) continue;
      const faster = this.stores.slice(0, position);
      if (faster.length > 0 && !this.promoting.has(key)) {
        this.promoting.add(key);
        this.inBackground(() => this.promote(key, hit, faster).finally(() => this.promoting.delete(key)));
      }
      return hit;
    }
    return undefined;
  }

  /**
   * Writes memory (when the body is small) and disk, awaited in that order because disk may move
   * a `{ file }` away; S3 is written in the background from a hard link (or copy) taken first. If
   * a local tier fails, the others are still written and the first failure rejects (the rest go
   * to `onError`). As with `DiskStore`, a `{ file }` may be gone afterwards; remove it if not.
   */
  async put(key: string, meta: CacheMeta, body: CacheBody): Promise<void> {
    const remote = this.stores.filter(isRemote);
    const local = this.stores.filter((store) => !isRemote(store));
    let remoteBody: CacheBody | undefined;
    if (remote.length > 0) {
      try {
        remoteBody = 'buffer' in body ? body : { file: await this.stageCopy(body.file) };
      } catch (error) {
        this.report(error);
      }
    }
    const failures: unknown[] = [];
    for (const store of local) {
      if (store.tier === 'memory' && meta.size > this.promoteMaxBytes) continue;
      try {
        await store.put(key, meta, body);
      } catch (error) {
        failures.push(error);
      }
    }
    if (remoteBody) {
      const staged = remoteBody;
      const upload = this.remoteWrites.run(key, async () => {
        try {
          for (const store of remote) await store.put(key, meta, staged).catch((error) => this.report(error));
        } finally {
          if ('file' in staged) await rm(staged.file, { force: true });
        }
      });
      this.inBackground(() => upload);
    }
    if (failures.length > 0) {
      for (const error of failures.slice(1)) this.report(error);
      throw failures[0];
    }
  }

  /**
   * Deletes from every tier; the first failure rejects after all were tried. Waits for background
   * writes of the key already started, which would otherwise bring the entry back.
   */
  async delete(key: string): Promise<void> {
    const results = await this.remoteWrites.run(key, () =>
      Promise.allSettled(this.stores.map((store) => store.delete(key))),
    );
    const failures = results.filter((result) => result.status === 'rejected').map((result) => result.reason);
    if (failures.length > 0) {
      for (const error of failures.slice(1)) this.report(error);
      throw failures[0];
    }
  }

  /** Whether every tier that can tell is writable now (for `/readyz`). */
  async writable(): Promise<boolean> {
    const checks = this.stores.map((store) => (store as MaybeWritable).writable?.() ?? Promise.resolve(true));
    return (await Promise.all(checks)).every(Boolean);
  }

  /** Size of every tier that reports one, by tier name (for metrics). */
  stats(): Partial<Record<CacheTier, { entries: number; bytes: number }>> {
    const out: Partial<Record<CacheTier, { entries: number; bytes: number }>> = {};
    for (const store of this.stores) {
      const stats = (store as MaybeStats).stats?.();
      if (stats) out[store.tier] = stats;
    }
    return out;
  }

  /** Resolves once every background write and promotion started so far has settled. */
  async idle(): Promise<void> {
    // Bounded by the work in flight: tasks do not spawn further background tasks.
    while (this.background.size > 0) await Promise.allSettled([...this.background]);
  }

  /** Waits for background work, then releases the tiers' clients. */
  async close(): Promise<void> {
    await this.idle();
    for (const store of this.stores) await (store as MaybeClosable).close?.();
  }

  private async promote(key: string, hit: CachedObject, targets: CacheStore[]): Promise<void> {
    const small = hit.meta.size <= this.promoteMaxBytes;
    const wanted = targets.filter((store) => small || store.tier !== 'memory');
    if (wanted.length === 0) return;
    if (small || hit.body) {
      const buffer = hit.body ?? (await readAll(await hit.open()));
      for (const store of wanted) {
        await store.put(key, hit.meta, { buffer }).catch((error) => this.report(error));
      }
      return;
    }
    // Too big for memory: stream through a temp file, one per target because a put may move it.
    for (const store of wanted) {
      const staged = this.tempPath();
      try {
        await mkdir(this.tempDir, { recursive: true });
        await pipeline(await hit.open(), createWriteStream(staged, { flags: 'wx' }));
        await store.put(key, hit.meta, { file: staged });
      } catch (error) {
        this.report(error);
      } finally {
        await rm(staged, { force: true });
      }
    }
  }

  /** A private name for `file`'s bytes that outlives a local tier moving `file` away. */
  private async stageCopy(file: string): Promise<string> {
    const staged = this.tempPath();
    await mkdir(this.tempDir, { recursive: true });
    try {
      await link(file, staged);
    } catch {
      // Another filesystem, or one without hard links.
      await copyFile(file, staged);
    }
    return staged;
  }

  private tempPath(): string {
    return path.join(this.tempDir, `tiered-${randomBytes(12).toString('hex')}`);
  }

  private inBackground(work: () => Promise<void>): void {
    const task = work().catch((error) => this.report(error));
    this.background.add(task);
    task.finally(() => this.background.delete(task));
  }

  private report(error: unknown): void {
    try {
      this.onError(error);
    } catch {
      // A failing logger must not turn a cache problem into a failed request.
    }
  }
}

/** The shared tier, written in the background because it is slow and not needed to answer. */
function isRemote(store: CacheStore): boolean {
  return store.tier === 's3' || store.tier === 'azure';
}
