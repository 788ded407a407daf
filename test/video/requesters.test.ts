import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ensureLargeFixture, fixturePath, LARGE_FIXTURE } from '../support/fixtures.js';
import { startProxy, type TestProxy } from '../support/proxy.js';
import { waitFor } from '../support/wait.js';
import { makeWorkDir } from './support.js';

/**
 * Work is owned by requesters (design §6): a HEAD of a new transform is answered from the plan and
 * starts no encode; a ranged probe that leaves before the encode ends releases it, and the encode
 * stops within the idle grace (5 s) instead of running to the end and being cached.
 */
let proxy: TestProxy;
let work: Awaited<ReturnType<typeof makeWorkDir>>;
const LARGE = `large/${LARGE_FIXTURE.fileName}`;

beforeAll(async () => {
  work = await makeWorkDir();
  await mkdir(path.join(work.dir, 'large'), { recursive: true });
  await copyFile(await ensureLargeFixture(), path.join(work.dir, LARGE));
  await copyFile(fixturePath('sample.mp4'), path.join(work.dir, 'sample.mp4'));
  proxy = await startProxy({ ORIGIN: work.dir });
}, 180_000);

afterAll(async () => {
  await proxy?.close();
  await work?.dispose();
});

describe('work is owned by requesters', () => {
  test('HEAD of a never-seen transform answers from the plan and starts no encode', async () => {
    const url = `${proxy.url}/sample.mp4?tr=w-200,q-41`;
    const head = await fetch(url, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toBe('video/mp4');
    expect(head.headers.get('etag')).toMatch(/^"/);
    expect(proxy.proxy.service.liveJobCount).toBe(0);
    expect(proxy.proxy.limiter.stats().running).toBe(0);
    // Nothing was made: the first GET is the one that encodes, and it streams the same identity.
    const get = await fetch(url);
    await get.arrayBuffer();
    expect(get.headers.get('x-cache')).toBe('MISS-STREAMING');
    expect(get.headers.get('etag')).toBe(head.headers.get('etag'));
    expect(await waitFor(() => proxy.proxy.service.liveJobCount === 0, 30_000)).toBe(true);
    const webmHead = await fetch(`${proxy.url}/sample.mp4?tr=w-200,f-webm`, { method: 'HEAD' });
    expect(webmHead.status).toBe(200);
    expect(webmHead.headers.get('content-type')).toBe('video/webm');
    expect(proxy.proxy.service.liveJobCount).toBe(0);
  });

  test('a Range probe that leaves before the encode ends cancels it', async () => {
    const url = `${proxy.url}/${LARGE}?tr=w-1280,q-66`;
    const abort = new AbortController();
    const pending = fetch(url, { headers: { Range: 'bytes=0-1' }, signal: abort.signal }).catch(
      () => undefined,
    );
    expect(await waitFor(() => proxy.proxy.service.liveJobCount === 1, 10_000)).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 500));
    abort.abort();
    await pending;
    const leftAt = Date.now();
    // The 60 s 1080p encode cannot finish in this time on 2 cores; the idle grace is 5 s.
    expect(await waitFor(() => proxy.proxy.service.liveJobCount === 0, 15_000)).toBe(true);
    expect(Date.now() - leftAt).toBeLessThan(10_000);
    const again = new AbortController();
    const next = await fetch(url, { method: 'HEAD', signal: again.signal });
    expect(next.headers.get('x-cache') ?? '').not.toMatch(/HIT/);
    expect(proxy.proxy.service.liveJobCount).toBe(0);
  }, 60_000);
});
