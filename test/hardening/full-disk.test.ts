import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { fetchBytes } from '../integration/helpers.js';
import { decodeCompletely, ffprobeCsv } from '../support/ffprobe.js';
import { startProxy, type TestProxy } from '../support/proxy.js';

/**
 * A disk cache that can no longer be written (full, read-only, gone) degrades to serving
 * uncached: outputs are still answered correctly, nothing half-written is served, and readiness
 * reports the problem. Root ignores permissions, so the cache folder is replaced by a plain file,
 * which makes every write into it fail (ENOTDIR) as a full disk would (ENOSPC).
 */
describe('an unwritable disk cache', () => {
  let proxy: TestProxy;
  let cacheDir: string;
  beforeAll(async () => {
    cacheDir = await mkdtemp(path.join(os.tmpdir(), 'ikvp-full-'));
    proxy = await startProxy({ CACHE_DIR: cacheDir, MEMORY_CACHE_MAX_ITEM_BYTES: '1' });
    await rm(cacheDir, { recursive: true, force: true });
    await writeFile(cacheDir, 'not a folder');
  });
  afterAll(async () => {
    await proxy?.close();
    await rm(cacheDir, { force: true, recursive: true });
  });

  test('thumbnails are still served, uncached, and stay correct', async () => {
    for (let attempt = 0; attempt < 2; attempt++) {
      const response = await fetchBytes(`${proxy.url}/sample.mp4/ik-thumbnail.jpg?tr=so-2,w-120`);
      expect(response.status, response.body.toString()).toBe(200);
      expect(response.headers.get('x-cache')).toBe('MISS');
      expect(response.body.subarray(0, 3).equals(Buffer.from([0xff, 0xd8, 0xff]))).toBe(true);
    }
  });

  test('a video transform streams a complete, decodable file', async () => {
    const response = await fetchBytes(`${proxy.url}/sample.mp4?tr=w-160,du-1`);
    expect(response.status, response.body.toString()).toBe(200);
    const file = path.join(os.tmpdir(), `ikvp-full-${process.pid}.mp4`);
    await writeFile(file, response.body);
    try {
      const [[width] = []] = await ffprobeCsv(file, 'stream=width');
      expect(width).toBe('160');
      await decodeCompletely(file);
    } finally {
      await rm(file, { force: true });
    }
  });

  test('/readyz answers "not ready" (the cache problem is named in the log only)', async () => {
    const response = await fetch(`${proxy.url}/readyz`);
    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({ status: 'not ready' });
  });
});
