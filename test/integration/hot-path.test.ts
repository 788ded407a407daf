import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { fixturePath } from '../support/fixtures.js';
import { startProxy, type TestProxy } from '../support/proxy.js';
import { fetchBytes } from './helpers.js';

/**
 * The hot path replays small cached answers by exact URL. It must answer exactly like the full
 * path (same bytes, ETag, 304), step aside for ranges and conditions it does not handle, and
 * never outlive SOURCE_TTL, so a replaced source is picked up as promptly as without it.
 */
describe('replaying cached answers by URL', () => {
  let proxy: TestProxy;
  let origin: string;
  beforeAll(async () => {
    origin = await mkdtemp(path.join(os.tmpdir(), 'ikvp-hot-'));
    await copyFile(fixturePath('sample.mp4'), path.join(origin, 'clip.mp4'));
    proxy = await startProxy({ ORIGIN: origin, SOURCE_TTL: '1' });
  });
  afterAll(async () => {
    await proxy?.close();
    await rm(origin, { recursive: true, force: true });
  });

  test('the replay equals the full answer; 304 and ranges still work', async () => {
    const url = `${proxy.url}/clip.mp4/ik-thumbnail.jpg?tr=so-3,w-90`;
    const first = await fetchBytes(url);
    const second = await fetchBytes(url);
    expect(first.status).toBe(200);
    expect(first.headers.get('x-cache')).toBe('MISS');
    expect(second.headers.get('x-cache')).toBe('HIT-MEMORY');
    expect(second.body.equals(first.body)).toBe(true);
    for (const name of [
      'etag',
      'content-type',
      'content-length',
      'cache-control',
      'last-modified',
      'access-control-allow-origin',
    ]) {
      expect(second.headers.get(name), name).toBe(first.headers.get(name));
    }
    expect(second.headers.get('x-request-id')).not.toBe(first.headers.get('x-request-id'));
    const etag = first.headers.get('etag')!;
    const notModified = await fetchBytes(url, { headers: { 'If-None-Match': etag } });
    expect(notModified.status).toBe(304);
    expect(notModified.body.length).toBe(0);
    const part = await fetchBytes(url, { headers: { Range: 'bytes=2-5' } });
    expect(part.status).toBe(206);
    expect(part.body.equals(first.body.subarray(2, 6))).toBe(true);
    const head = await fetchBytes(url, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect(head.headers.get('content-length')).toBe(String(first.body.length));
  });

  test('a hit keeps every header a miss sends and reads its conditions in any spelling', async () => {
    const url = `${proxy.url}/clip.mp4/ik-thumbnail.jpg?tr=so-2,w-80`;
    const miss = await fetchBytes(url);
    const hit = await fetchBytes(url, { headers: { 'x-REQUEST-id': 'trace-42' } });
    expect(hit.headers.get('x-cache')).toBe('HIT-MEMORY');
    const hitNames = new Set(hit.headers.keys());
    expect([...miss.headers.keys()].filter((name) => !hitNames.has(name))).toEqual([]);
    expect(hit.headers.get('x-request-id')).toBe('trace-42');
    expect(hit.headers.get('server-timing')).toMatch(/^hot;dur=/);
    const etag = miss.headers.get('etag')!;
    const listed = await fetchBytes(url, { headers: { 'IF-NONE-MATCH': `"other", W/${etag}` } });
    expect(listed.status).toBe(304);
    expect(listed.headers.get('server-timing')).toMatch(/^hot;/);
    const stale = await fetchBytes(url, { headers: { 'if-none-match': '"other"' } });
    expect(stale.status).toBe(200);
    expect(stale.body.equals(miss.body)).toBe(true);
    // Conditions the replay does not evaluate take the full path, whatever their spelling.
    const since = await fetchBytes(url, {
      headers: { 'IF-MODIFIED-SINCE': new Date(Date.now() + 60_000).toUTCString() },
    });
    expect(since.status).toBe(304);
    expect(since.headers.get('server-timing')).not.toMatch(/^hot;/);
    const ranged = await fetchBytes(url, { headers: { RANGE: 'bytes=0-3', 'If-Range': etag } });
    expect(ranged.status).toBe(206);
    expect(ranged.body.equals(miss.body.subarray(0, 4))).toBe(true);
  });

  test('a replaced source gets a new answer once SOURCE_TTL has passed', async () => {
    const url = `${proxy.url}/clip.mp4/ik-thumbnail.jpg?tr=so-1,w-64`;
    const before = await fetchBytes(url);
    expect((await fetchBytes(url)).headers.get('x-cache')).toBe('HIT-MEMORY');
    await copyFile(fixturePath('portrait.mp4'), path.join(origin, 'clip.mp4'));
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const after = await fetchBytes(url);
    expect(after.status).toBe(200);
    expect(after.headers.get('x-cache')).toBe('MISS');
    expect(after.headers.get('etag')).not.toBe(before.headers.get('etag'));
    expect(after.body.equals(before.body)).toBe(false);
  });
});
