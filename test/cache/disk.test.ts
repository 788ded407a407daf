import { mkdir, mkdtemp, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { DiskStore } from '../../src/cache/disk.js';
import { hashKey } from '../../src/cache/util.js';
import { ProxyError } from '../../src/errors.js';
import { bodyFor, drain, metaFor } from './bodies.js';
import { storeContract } from './store-contract.js';

storeContract('DiskStore', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'disk-contract-'));
  return {
    store: await DiskStore.open({ dir, maxBytes: 1024 * 1024 * 1024 }),
    close: () => rm(dir, { recursive: true, force: true }),
  };
});

/** Every file under `dir`, relative, sorted. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)))
    .sort();
}

/** Files of entries (shard folders), ignoring the temp folder. */
async function entryFiles(dir: string): Promise<string[]> {
  return (await filesUnder(dir)).filter((file) => !file.startsWith(`tmp${path.sep}`));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe('DiskStore', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'disk-store-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('a new DiskStore.open on the same folder finds the entries', async () => {
    const first = await DiskStore.open({ dir, maxBytes: 10_000_000 });
    const source = path.join(dir, '..', `${path.basename(dir)}-source`);
    await writeFile(source, bodyFor('from-file', 40_000));
    await first.put('from-file', metaFor(40_000, 'f'), { file: source });
    await first.put('from-buffer', metaFor(50_000, 'b'), { buffer: bodyFor('from-buffer', 50_000) });
    await first.delete('from-buffer');
    await first.put('from-buffer', metaFor(30_000, 'b2'), { buffer: bodyFor('from-buffer', 30_000) });

    const second = await DiskStore.open({ dir, maxBytes: 10_000_000 });
    expect(second.stats()).toEqual(first.stats());
    expect(second.stats().entries).toBe(2);
    const fromFile = await second.get('from-file');
    expect(fromFile?.meta).toEqual(metaFor(40_000, 'f'));
    expect((await drain(await fromFile!.open())).equals(bodyFor('from-file', 40_000))).toBe(true);
    const fromBuffer = await second.get('from-buffer');
    expect(fromBuffer?.meta).toEqual(metaFor(30_000, 'b2'));
    expect((await drain(await fromBuffer!.open())).equals(bodyFor('from-buffer', 30_000))).toBe(true);
  });

  test('a file body on the same filesystem is moved in, not copied', async () => {
    const store = await DiskStore.open({ dir, maxBytes: 10_000_000 });
    const source = path.join(dir, '..', `${path.basename(dir)}-moved`);
    await writeFile(source, bodyFor('moved', 1_000));
    await store.put('moved', metaFor(1_000), { file: source });
    await expect(readdir(source)).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await store.get('moved'))?.path).toBeDefined();
  });

  test('evicts the least recently used entries past maxBytes, files included', async () => {
    const store = await DiskStore.open({ dir, maxBytes: 100_000 });
    for (const key of ['a', 'b', 'c'])
      await store.put(key, metaFor(30_000), { buffer: bodyFor(key, 30_000) });
    expect(await store.get('a')).toBeDefined();
    await store.put('d', metaFor(30_000), { buffer: bodyFor('d', 30_000) });

    expect(await store.get('b')).toBeUndefined();
    for (const key of ['a', 'c', 'd']) expect(await store.get(key)).toBeDefined();
    expect(store.stats().entries).toBe(3);
    expect(store.stats().bytes).toBeLessThanOrEqual(100_000);
    const files = await entryFiles(dir);
    expect(files).toHaveLength(6);
    expect(files.some((file) => file.includes(hashKey('b')))).toBe(false);
  });

  test('a body larger than the whole cache is skipped', async () => {
    const store = await DiskStore.open({ dir, maxBytes: 10_000 });
    await store.put('huge', metaFor(10_001), { buffer: bodyFor('huge', 10_001) });
    expect(await store.get('huge')).toBeUndefined();
    expect(await entryFiles(dir)).toEqual([]);
  });

  test('least-recently-used order survives a restart', async () => {
    const store = await DiskStore.open({ dir, maxBytes: 10_000_000, touchIntervalMs: 0 });
    for (const key of ['a', 'b', 'c']) {
      await store.put(key, metaFor(30_000), { buffer: bodyFor(key, 30_000) });
      await sleep(20);
    }
    expect(await store.get('a')).toBeDefined();
    await sleep(50); // the access stamp is written in the background
    const reopened = await DiskStore.open({ dir, maxBytes: 70_000 });
    expect(await reopened.get('b')).toBeUndefined();
    expect(await reopened.get('a')).toBeDefined();
    expect(await reopened.get('c')).toBeDefined();
  });

  test('open removes temp files, orphan bodies and metas without a body', async () => {
    const store = await DiskStore.open({ dir, maxBytes: 10_000_000 });
    await store.put('kept', metaFor(1_000), { buffer: bodyFor('kept', 1_000) });
    await store.put('lost-body', metaFor(1_000), { buffer: bodyFor('lost-body', 1_000) });
    await rm((await store.get('lost-body'))!.path!);

    await writeFile(path.join(dir, 'tmp', 'half-written'), 'partial');
    await mkdir(path.join(dir, 'tmp', 'nested'));
    await writeFile(path.join(dir, 'tmp', 'nested', 'x'), 'partial');
    const orphanId = hashKey('orphan');
    await mkdir(path.join(dir, orphanId.slice(0, 2)), { recursive: true });
    const orphan = path.join(dir, orphanId.slice(0, 2), `${orphanId}.0123456789abcdef`);
    await writeFile(orphan, 'a body whose meta was never committed');

    const reopened = await DiskStore.open({ dir, maxBytes: 10_000_000 });
    expect(await readdir(path.join(dir, 'tmp'))).toEqual([]);
    const files = await entryFiles(dir);
    expect(files).toHaveLength(2);
    expect(files.every((file) => path.basename(file).startsWith(hashKey('kept')))).toBe(true);
    expect(reopened.stats().entries).toBe(1);
    expect(await reopened.get('lost-body')).toBeUndefined();
  });

  test('a truncated body is never served and is deleted', async () => {
    const store = await DiskStore.open({ dir, maxBytes: 10_000_000 });
    await store.put('cut', metaFor(20_000), { buffer: bodyFor('cut', 20_000) });
    await store.put('cut-at-rest', metaFor(20_000), { buffer: bodyFor('cut-at-rest', 20_000) });
    await truncate((await store.get('cut'))!.path!, 10_000);
    await truncate((await store.get('cut-at-rest'))!.path!, 19_999);

    expect(await store.get('cut')).toBeUndefined();
    expect((await entryFiles(dir)).some((file) => file.includes(hashKey('cut')))).toBe(false);
    expect(store.stats().entries).toBe(1);

    const reopened = await DiskStore.open({ dir, maxBytes: 10_000_000 });
    expect(reopened.stats().entries).toBe(0);
    expect(await reopened.get('cut-at-rest')).toBeUndefined();
    expect(await entryFiles(dir)).toEqual([]);
  });

  test('a put whose file vanished rejects and leaves nothing', async () => {
    const store = await DiskStore.open({ dir, maxBytes: 10_000_000 });
    const error = await store
      .put('vanished', metaFor(10), { file: path.join(dir, 'no-such-file') })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ProxyError);
    expect((error as ProxyError).code).toBe('cache_error');
    expect(await filesUnder(dir)).toEqual([]);
    expect(await store.get('vanished')).toBeUndefined();
  });

  test('a file whose size disagrees with the meta rejects and leaves nothing', async () => {
    const store = await DiskStore.open({ dir, maxBytes: 10_000_000 });
    const source = path.join(dir, '..', `${path.basename(dir)}-short`);
    await writeFile(source, bodyFor('short', 99));
    await expect(store.put('short', metaFor(100), { file: source })).rejects.toBeInstanceOf(ProxyError);
    await rm(source, { force: true });
    expect(await filesUnder(dir)).toEqual([]);
  });

  test('an unwritable cache folder rejects the put, keeps the old entry and reports not writable', async () => {
    const store = await DiskStore.open({ dir, maxBytes: 10_000_000 });
    await store.put('k', metaFor(1_000, 'old'), { buffer: bodyFor('old', 1_000) });
    expect(await store.writable()).toBe(true);
    // Running as root defeats chmod, so break the temp folder by putting a file in its place.
    await rm(path.join(dir, 'tmp'), { recursive: true });
    await writeFile(path.join(dir, 'tmp'), 'not a folder');

    await expect(
      store.put('k', metaFor(2_000, 'new'), { buffer: bodyFor('new', 2_000) }),
    ).rejects.toBeInstanceOf(ProxyError);
    expect(await store.writable()).toBe(false);
    const hit = await store.get('k');
    expect(hit?.meta.etag).toBe(metaFor(1_000, 'old').etag);
    expect((await drain(await hit!.open())).equals(bodyFor('old', 1_000))).toBe(true);
    expect(await entryFiles(dir)).toHaveLength(3); // tmp (a file now) + the old meta and body

    await rm(path.join(dir, 'tmp'));
    await mkdir(path.join(dir, 'tmp'));
    expect(await store.writable()).toBe(true);
  });

  test('a put that fails after its body is placed removes that body', async () => {
    const store = await DiskStore.open({ dir, maxBytes: 10_000_000 });
    const id = hashKey('blocked');
    // A non-empty folder where the meta must go makes the commit rename fail.
    await mkdir(path.join(dir, id.slice(0, 2), `${id}.json`, 'occupied'), { recursive: true });
    await expect(
      store.put('blocked', metaFor(5_000), { buffer: bodyFor('blocked', 5_000) }),
    ).rejects.toBeInstanceOf(ProxyError);
    expect(await filesUnder(dir)).toEqual([]);
    expect(store.stats()).toEqual({ entries: 0, bytes: 0 });
  });

  test('concurrent puts of one key leave one whole entry and one body file', async () => {
    const store = await DiskStore.open({ dir, maxBytes: 10_000_000 });
    const sizes = Array.from({ length: 10 }, (_, index) => 10_000 + index * 1_000);
    await Promise.all(
      sizes.map((size) =>
        store.put('same', metaFor(size, `v${size}`), { buffer: bodyFor(`same-${size}`, size) }),
      ),
    );
    const hit = (await store.get('same'))!;
    expect((await drain(await hit.open())).equals(bodyFor(`same-${hit.meta.size}`, hit.meta.size))).toBe(
      true,
    );
    expect(await entryFiles(dir)).toHaveLength(2);
    expect(store.stats().entries).toBe(1);
  });

  test('open() of an entry deleted after get rejects rather than serving nothing', async () => {
    const store = await DiskStore.open({ dir, maxBytes: 10_000_000 });
    await store.put('gone', metaFor(100), { buffer: bodyFor('gone', 100) });
    const hit = (await store.get('gone'))!;
    await store.delete('gone');
    await expect(hit.open()).rejects.toBeInstanceOf(ProxyError);
  });
});
