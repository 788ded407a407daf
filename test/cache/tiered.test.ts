import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { DiskStore } from '../../src/cache/disk.js';
import { MemoryStore } from '../../src/cache/memory.js';
import { S3Store } from '../../src/cache/s3.js';
import { TieredStore } from '../../src/cache/tiered.js';
import type { CacheBody, CachedObject, CacheMeta, CacheStore, CacheTier } from '../../src/cache/types.js';
import type { ProxyError } from '../../src/errors.js';
import { startTestS3, type TestS3 } from '../support/s3.js';
import { bodyFor, drain, metaFor } from './bodies.js';
import { storeContract } from './store-contract.js';

function s3Config(endpoint: string) {
  return {
    endpoint,
    forcePathStyle: true,
    region: 'us-east-1',
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    maxAttempts: 1,
  };
}

storeContract('TieredStore (memory, disk, s3)', async () => {
  const s3 = await startTestS3();
  await s3.createBucket('tiered');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tiered-contract-'));
  const disk = await DiskStore.open({ dir, maxBytes: 1024 ** 3 });
  const errors: unknown[] = [];
  const store = new TieredStore(
    [
      new MemoryStore({ maxBytes: 16 * 1024 * 1024, maxItemBytes: 100_000 }),
      disk,
      new S3Store({ client: s3Config(s3.endpoint), bucket: 'tiered' }),
    ],
    { promoteMaxBytes: 100_000, onError: (error) => errors.push(error), tempDir: disk.tempDir },
  );
  return {
    store,
    async close() {
      await store.close();
      await s3.close();
      await rm(dir, { recursive: true, force: true });
      // Background work of the contract must not have failed quietly; only the deliberately bad
      // put (refused by every tier) may be reported.
      const unexpected = errors.filter(
        (error) => !((error as ProxyError).detail ?? '').includes('contract/size-mismatch'),
      );
      expect(unexpected).toEqual([]);
      expect(errors.length).toBe(2);
    },
  };
});

/** A tier that fails every call, or holds puts until released. */
class StubTier implements CacheStore {
  readonly puts: string[] = [];
  private release: () => void = () => undefined;
  private readonly gate: Promise<void>;
  constructor(
    readonly tier: CacheTier,
    private readonly mode: 'fail' | 'hold',
  ) {
    this.gate = new Promise((resolve) => {
      this.release = resolve;
    });
  }
  async get(): Promise<CachedObject | undefined> {
    if (this.mode === 'fail') throw new Error(`${this.tier} is down`);
    return undefined;
  }
  async put(key: string, _meta: CacheMeta, _body: CacheBody): Promise<void> {
    if (this.mode === 'fail') throw new Error(`${this.tier} is down`);
    await this.gate;
    this.puts.push(key);
  }
  async delete(): Promise<void> {}
  open(): void {
    this.release();
  }
}

describe('TieredStore', () => {
  let s3: TestS3;
  let dir: string;
  let memory: MemoryStore;
  let disk: DiskStore;
  let remote: S3Store;
  let errors: unknown[];
  let bucket = 0;

  beforeAll(async () => {
    s3 = await startTestS3();
  });
  afterAll(() => s3.close());
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'tiered-'));
    memory = new MemoryStore({ maxBytes: 10_000_000, maxItemBytes: 50_000 });
    disk = await DiskStore.open({ dir, maxBytes: 100_000_000 });
    const name = `tier-${bucket++}`;
    await s3.createBucket(name);
    remote = new S3Store({ client: s3Config(s3.endpoint), bucket: name, prefix: 'r/' });
    errors = [];
  });
  afterEach(async () => {
    remote.close();
    await rm(dir, { recursive: true, force: true });
  });

  function tiered(stores: CacheStore[] = [memory, disk, remote]): TieredStore {
    return new TieredStore(stores, {
      promoteMaxBytes: 50_000,
      onError: (error) => errors.push(error),
      tempDir: disk.tempDir,
    });
  }

  test('a disk hit is served from disk and promoted into memory', async () => {
    const store = tiered();
    const body = bodyFor('warm', 20_000);
    await disk.put('warm', metaFor(body.length), { buffer: body });
    expect(await memory.get('warm')).toBeUndefined();

    const first = await store.get('warm');
    expect(first?.tier).toBe('disk');
    await store.idle();
    expect((await memory.get('warm'))?.body?.equals(body)).toBe(true);
    expect((await store.get('warm'))?.tier).toBe('memory');
    expect(errors).toEqual([]);
  });

  test('an s3 hit is promoted to disk and, when small, to memory', async () => {
    const store = tiered();
    const body = bodyFor('shared', 30_000);
    await remote.put('shared', metaFor(body.length), { buffer: body });

    expect((await store.get('shared'))?.tier).toBe('s3');
    await store.idle();
    expect((await drain(await (await disk.get('shared'))!.open())).equals(body)).toBe(true);
    expect((await memory.get('shared'))?.body?.equals(body)).toBe(true);
    expect(errors).toEqual([]);
  });

  test('a large s3 hit goes to disk through a temp file but not to memory', async () => {
    const store = tiered();
    const body = bodyFor('large', 400_000);
    await remote.put('large', metaFor(body.length), { buffer: body });

    expect((await store.get('large'))?.tier).toBe('s3');
    await store.idle();
    expect((await drain(await (await disk.get('large'))!.open())).equals(body)).toBe(true);
    expect(await memory.get('large')).toBeUndefined();
    expect(await readdir(disk.tempDir)).toEqual([]);
    expect(errors).toEqual([]);
  });

  test('a tier that fails reads is skipped and reported', async () => {
    const store = tiered([new StubTier('memory', 'fail'), disk]);
    const body = bodyFor('k', 1_000);
    await disk.put('k', metaFor(body.length), { buffer: body });
    const hit = await store.get('k');
    expect(hit?.tier).toBe('disk');
    expect((await drain(await hit!.open())).equals(body)).toBe(true);
    await store.idle();
    expect(errors.map((error) => (error as Error).message)).toEqual(['memory is down', 'memory is down']);
  });

  test('put writes memory and disk before resolving and s3 in the background', async () => {
    const slowRemote = new StubTier('s3', 'hold');
    const store = tiered([memory, disk, slowRemote]);
    const body = bodyFor('fresh', 10_000);
    await store.put('fresh', metaFor(body.length), { buffer: body });
    expect(await memory.get('fresh')).toBeDefined();
    expect(await disk.get('fresh')).toBeDefined();
    expect(slowRemote.puts).toEqual([]);
    slowRemote.open();
    await store.idle();
    expect(slowRemote.puts).toEqual(['fresh']);
  });

  test('a failing background s3 write is reported, not thrown', async () => {
    const store = tiered([memory, disk, new StubTier('s3', 'fail')]);
    await store.put('k', metaFor(100), { buffer: bodyFor('k', 100) });
    await store.idle();
    expect(errors.map((error) => (error as Error).message)).toEqual(['s3 is down']);
    expect(await store.get('k')).toBeDefined();
  });

  test('a large file body reaches disk (moved) and s3 (from a staged link), not memory', async () => {
    const store = tiered();
    const body = bodyFor('big-file', 300_000);
    const source = path.join(dir, '..', `${path.basename(dir)}-source`);
    await writeFile(source, body);
    await store.put('big-file', metaFor(body.length), { file: source });
    await rm(source, { force: true });
    await store.idle();

    expect(await memory.get('big-file')).toBeUndefined();
    expect((await drain(await (await disk.get('big-file'))!.open())).equals(body)).toBe(true);
    expect((await drain(await (await remote.get('big-file'))!.open())).equals(body)).toBe(true);
    expect(await readdir(disk.tempDir)).toEqual([]);
    expect(errors).toEqual([]);
  });

  test('a local tier failure rejects put but the other tiers are still written', async () => {
    const store = tiered([memory, new StubTier('disk', 'fail'), remote]);
    const body = bodyFor('partial', 1_000);
    await expect(store.put('partial', metaFor(body.length), { buffer: body })).rejects.toThrow(
      'disk is down',
    );
    await store.idle();
    expect(await memory.get('partial')).toBeDefined();
    expect(await remote.get('partial')).toBeDefined();
  });

  test('delete right after put is not undone by the background s3 write', async () => {
    const store = tiered();
    await store.put('short-lived', metaFor(1_000), { buffer: bodyFor('short-lived', 1_000) });
    await store.delete('short-lived');
    await store.idle();
    expect(await store.get('short-lived')).toBeUndefined();
    expect(await remote.get('short-lived')).toBeUndefined();
  });

  test('writable and stats reflect the tiers', async () => {
    const store = tiered();
    await store.put('k', metaFor(1_000), { buffer: bodyFor('k', 1_000) });
    expect(await store.writable()).toBe(true);
    expect(store.stats().disk?.entries).toBe(1);
    expect(store.stats().memory?.entries).toBe(1);
    expect(store.stats().s3).toBeUndefined();
  });
});
