import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { CachedObject, CacheStore } from '../../src/cache/types.js';
import { ProxyError, RangeNotSatisfiableError } from '../../src/errors.js';
import { bodyFor, drain, metaFor } from './bodies.js';

/** A store under test and how to dispose of it. */
export interface StoreUnderTest {
  store: CacheStore;
  close(): Promise<void>;
}

/** Reads the whole body through every way the object offers: open(), `body`, `path`. */
async function everyView(hit: CachedObject): Promise<Buffer[]> {
  const views = [await drain(await hit.open())];
  if (hit.body) views.push(hit.body);
  if (hit.path) views.push(await readFile(hit.path));
  return views;
}

/**
 * The behaviour every `CacheStore` shares. `factory` is called once per suite; keys are unique
 * per test so tests do not depend on each other.
 */
export function storeContract(name: string, factory: () => Promise<StoreUnderTest>): void {
  describe(`${name} (CacheStore contract)`, () => {
    let subject: StoreUnderTest;
    let store: CacheStore;
    let scratch: string;

    beforeAll(async () => {
      subject = await factory();
      store = subject.store;
      scratch = await mkdtemp(path.join(os.tmpdir(), 'store-contract-'));
    });
    afterAll(async () => {
      await subject?.close();
      await rm(scratch, { recursive: true, force: true });
    });

    test('a key never stored is a miss', async () => {
      expect(await store.get('contract/never-stored')).toBeUndefined();
    });

    test('put from a buffer, then get returns the same meta and bytes', async () => {
      const key = 'contract/buffer';
      const body = bodyFor(key, 70_001);
      await store.put(key, metaFor(body.length), { buffer: body });
      const hit = await store.get(key);
      expect(hit).toBeDefined();
      expect(hit!.meta).toEqual(metaFor(body.length));
      for (const view of await everyView(hit!)) expect(view.equals(body)).toBe(true);
    });

    test('put from a file, then get returns its bytes', async () => {
      const key = 'contract/file';
      const body = bodyFor(key, 123_457);
      const file = path.join(scratch, 'file-body');
      await writeFile(file, body);
      await store.put(key, metaFor(body.length), { file });
      const hit = await store.get(key);
      expect(hit?.meta.size).toBe(body.length);
      for (const view of await everyView(hit!)) expect(view.equals(body)).toBe(true);
      await rm(file, { force: true });
    });

    test('an empty body round-trips', async () => {
      const key = 'contract/empty';
      await store.put(key, metaFor(0), { buffer: Buffer.alloc(0) });
      const hit = await store.get(key);
      expect(hit?.meta.size).toBe(0);
      expect((await drain(await hit!.open())).length).toBe(0);
    });

    test('open(range) returns exactly the inclusive range: start, middle, end', async () => {
      const key = 'contract/ranges';
      const body = bodyFor(key, 10_000);
      await store.put(key, metaFor(body.length), { buffer: body });
      const hit = (await store.get(key))!;
      const ranges = [
        { start: 0, end: 0 },
        { start: 0, end: 99 },
        { start: 4_321, end: 6_789 },
        { start: 9_990, end: 9_999 },
      ];
      for (const range of ranges) {
        const got = await drain(await hit.open(range));
        expect(got.equals(body.subarray(range.start, range.end + 1))).toBe(true);
      }
    });

    test('a range ending past the body is clamped; one starting past it is unsatisfiable', async () => {
      const key = 'contract/range-edges';
      const body = bodyFor(key, 500);
      await store.put(key, metaFor(body.length), { buffer: body });
      const hit = (await store.get(key))!;
      expect((await drain(await hit.open({ start: 400, end: 10_000 }))).equals(body.subarray(400))).toBe(
        true,
      );
      await expect(hit.open({ start: 500, end: 600 })).rejects.toBeInstanceOf(RangeNotSatisfiableError);
    });

    test('a second put replaces the entry', async () => {
      const key = 'contract/overwrite';
      const first = bodyFor(`${key}/1`, 3_000);
      const second = bodyFor(`${key}/2`, 2_000);
      await store.put(key, metaFor(first.length, 'first'), { buffer: first });
      await store.put(key, metaFor(second.length, 'second'), { buffer: second });
      const hit = await store.get(key);
      expect(hit?.meta).toEqual(metaFor(second.length, 'second'));
      for (const view of await everyView(hit!)) expect(view.equals(second)).toBe(true);
    });

    test('delete makes it a miss; deleting a missing key is fine', async () => {
      const key = 'contract/delete';
      const body = bodyFor(key, 1_000);
      await store.put(key, metaFor(body.length), { buffer: body });
      expect(await store.get(key)).toBeDefined();
      await store.delete(key);
      expect(await store.get(key)).toBeUndefined();
      await store.delete(key);
      await store.delete('contract/never-stored-either');
    });

    test('a meta whose size disagrees with the body is refused and stores nothing', async () => {
      const key = 'contract/size-mismatch';
      const body = bodyFor(key, 1_000);
      await expect(store.put(key, metaFor(999), { buffer: body })).rejects.toBeInstanceOf(ProxyError);
      expect(await store.get(key)).toBeUndefined();
    });

    test('many keys are kept apart', async () => {
      const keys = Array.from({ length: 40 }, (_, index) => `contract/many/${index}`);
      await Promise.all(
        keys.map((key, index) => {
          const body = bodyFor(key, 1_000 + index * 37);
          return store.put(key, metaFor(body.length, key), { buffer: body });
        }),
      );
      for (const [index, key] of keys.entries()) {
        const hit = await store.get(key);
        expect(hit?.meta.etag).toBe(metaFor(1_000 + index * 37, key).etag);
        expect((await drain(await hit!.open())).equals(bodyFor(key, 1_000 + index * 37))).toBe(true);
      }
    });
  });
}
