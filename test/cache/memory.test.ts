import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { MemoryStore } from '../../src/cache/memory.js';
import { bodyFor, metaFor } from './bodies.js';
import { storeContract } from './store-contract.js';

storeContract('MemoryStore', async () => ({
  store: new MemoryStore({ maxBytes: 64 * 1024 * 1024, maxItemBytes: 1024 * 1024 }),
  close: async () => undefined,
}));

describe('MemoryStore', () => {
  test('evicts the least recently used entries once past maxBytes', async () => {
    const store = new MemoryStore({ maxBytes: 100_000, maxItemBytes: 50_000 });
    for (const key of ['a', 'b', 'c'])
      await store.put(key, metaFor(30_000), { buffer: bodyFor(key, 30_000) });
    // Touch `a` so `b` is now the least recently used.
    expect(await store.get('a')).toBeDefined();
    await store.put('d', metaFor(30_000), { buffer: bodyFor('d', 30_000) });
    expect(await store.get('b')).toBeUndefined();
    for (const key of ['a', 'c', 'd'])
      expect((await store.get(key))?.body?.equals(bodyFor(key, 30_000))).toBe(true);
    expect(store.stats().entries).toBe(3);
    expect(store.stats().bytes).toBeLessThanOrEqual(100_000);
  });

  test('skips bodies larger than maxItemBytes, from a buffer or a file', async () => {
    const store = new MemoryStore({ maxBytes: 1_000_000, maxItemBytes: 10_000 });
    await store.put('big-buffer', metaFor(10_001), { buffer: bodyFor('big-buffer', 10_001) });
    expect(await store.get('big-buffer')).toBeUndefined();

    const dir = await mkdtemp(path.join(os.tmpdir(), 'memory-store-'));
    try {
      const file = path.join(dir, 'big');
      await writeFile(file, bodyFor('big-file', 10_001));
      await store.put('big-file', metaFor(10_001), { file });
      expect(await store.get('big-file')).toBeUndefined();

      await store.put('fits', metaFor(10_000), { buffer: bodyFor('fits', 10_000) });
      expect(await store.get('fits')).toBeDefined();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('a file put reads the file and leaves it in place', async () => {
    const store = new MemoryStore({ maxBytes: 1_000_000, maxItemBytes: 10_000 });
    const dir = await mkdtemp(path.join(os.tmpdir(), 'memory-store-'));
    try {
      const file = path.join(dir, 'small');
      await writeFile(file, bodyFor('small', 5_000));
      await store.put('small', metaFor(5_000), { file });
      await writeFile(file, Buffer.alloc(5_000));
      expect((await store.get('small'))?.body?.equals(bodyFor('small', 5_000))).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
