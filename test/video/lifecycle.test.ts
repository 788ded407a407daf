import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ffprobeBytes } from '../support/ffprobe.js';
import { ensureLargeFixture, fixturePath, LARGE_FIXTURE } from '../support/fixtures.js';
import { startProxy, type TestProxy } from '../support/proxy.js';
import { waitFor } from '../support/wait.js';
import { makeWorkDir } from './support.js';

// An origin folder of our own: the large clip (for an encode long enough to walk away from) and
// a file ffprobe accepts but ffmpeg cannot encode: sample.mp4's header (ftyp + moov) with the
// media data cut away, so every sample the index promises is missing.
let proxy: TestProxy;
let work: Awaited<ReturnType<typeof makeWorkDir>>;
const LARGE = `large/${LARGE_FIXTURE.fileName}`;

/** sample.mp4 up to and including the mdat box header, followed by a few zero bytes. */
async function headerOnlyCopy(source: string): Promise<Buffer> {
  const bytes = await readFile(source);
  let offset = 0;
  // Bounded by the file length; each box advances by its size.
  while (offset + 8 <= bytes.length) {
    const size = bytes.readUInt32BE(offset);
    const type = bytes.toString('latin1', offset + 4, offset + 8);
    if (type === 'mdat') return Buffer.concat([bytes.subarray(0, offset + 8), Buffer.alloc(64)]);
    if (size < 8) break;
    offset += size;
  }
  throw new Error(`${source} has no mdat box after its moov`);
}

beforeAll(async () => {
  work = await makeWorkDir();
  const large = await ensureLargeFixture();
  await mkdir(path.join(work.dir, 'large'), { recursive: true });
  await copyFile(large, path.join(work.dir, LARGE));
  await copyFile(fixturePath('sample.mp4'), path.join(work.dir, 'sample.mp4'));
  await writeFile(path.join(work.dir, 'header-only.mp4'), await headerOnlyCopy(fixturePath('sample.mp4')));
  proxy = await startProxy({ ORIGIN: work.dir });
}, 180_000);

afterAll(async () => {
  await proxy?.close();
  await work?.dispose();
});

/** Files anywhere under `dir` (the cache's contents). */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((entry) => entry.isFile()).map((entry) => path.join(entry.parentPath, entry.name));
}

describe('failed and abandoned encodes leave nothing cached', () => {
  test('an encode ffmpeg cannot do is a JSON error, every time, and never cached', async () => {
    const url = `${proxy.url}/header-only.mp4?tr=w-160`;
    for (let attempt = 1; attempt <= 2; attempt++) {
      const response = await fetch(url);
      const text = await response.text();
      expect(response.status, `attempt ${attempt}: ${text}`).toBeGreaterThanOrEqual(400);
      expect(response.headers.get('content-type')).toMatch(/application\/json/);
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(response.headers.get('x-cache') ?? '').not.toMatch(/HIT/);
      const parsed = JSON.parse(text) as { error: { code: string; message: string } };
      expect(parsed.error.code).toBeTruthy();
      // The public message is short: no ffmpeg stderr leaks into it.
      expect(parsed.error.message.length).toBeLessThan(300);
    }
    expect(await waitFor(() => proxy.proxy.service.liveJobCount === 0, 5_000)).toBe(true);
  });

  test('an encode whose only viewer leaves early is cancelled and the next request is a miss', async () => {
    const url = `${proxy.url}/${LARGE}?tr=w-1280,q-70`;
    const abort = new AbortController();
    const response = await fetch(url, { signal: abort.signal });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-cache')).toBe('MISS-STREAMING');
    const reader = response.body!.getReader();
    const first = await reader.read();
    expect(first.done).toBe(false);
    expect(proxy.proxy.service.liveJobCount).toBe(1);
    abort.abort();
    await reader.cancel().catch(() => {});

    // The idle grace period is 5 s; the 60 s 1080p encode cannot finish in that time on 2 cores.
    const cancelled = await waitFor(() => proxy.proxy.service.liveJobCount === 0, 30_000);
    expect(cancelled).toBe(true);

    const again = new AbortController();
    const next = await fetch(url, { signal: again.signal });
    expect(next.status).toBe(200);
    expect(next.headers.get('x-cache') ?? '').not.toMatch(/HIT/);
    again.abort();
    await next.body?.cancel().catch(() => {});
    expect(await waitFor(() => proxy.proxy.service.liveJobCount === 0, 30_000)).toBe(true);
  }, 90_000);
});

describe('first requests of a new transform', () => {
  test('a plain GET streams a 200 at once, without waiting for the encode', async () => {
    const started = performance.now();
    const response = await fetch(`${proxy.url}/sample.mp4?tr=w-640,q-45`);
    const headersAt = performance.now() - started;
    expect(response.status).toBe(200);
    expect(response.headers.get('x-cache')).toBe('MISS-STREAMING');
    expect(response.headers.get('content-length')).toBeNull();
    const body = Buffer.from(await response.arrayBuffer());
    const doneAt = performance.now() - started;
    const probe = await ffprobeBytes(body, 'mp4');
    expect(probe.streams.find((stream) => stream.codec_type === 'video')?.width).toBe(640);
    expect(headersAt).toBeLessThan(doneAt / 2);
  });

  test('Range: bytes=0-1 on a new transform is a 206 from the growing output at once, not after the encode', async () => {
    const url = `${proxy.url}/sample.mp4?tr=w-320,q-55,du-3`;
    const started = performance.now();
    const probeResponse = await fetch(url, { headers: { Range: 'bytes=0-1' } });
    expect(probeResponse.status).toBe(206);
    // The total is not known while the output grows (RFC 9110 `*`); no shared cache keeps it.
    expect(probeResponse.headers.get('content-range')).toBe('bytes 0-1/*');
    expect(probeResponse.headers.get('cache-control')).toBe('no-store');
    expect(probeResponse.headers.get('cache-status')).toBe('ik-video-proxy; fwd=miss; detail=streaming');
    const twoBytes = Buffer.from(await probeResponse.arrayBuffer());
    expect(twoBytes.length).toBe(2);
    expect(performance.now() - started).toBeLessThan(5000);

    expect(await waitFor(() => proxy.proxy.service.liveJobCount === 0, 30_000)).toBe(true);
    const whole = await fetch(url);
    expect(whole.status).toBe(200);
    expect(whole.headers.get('x-cache') ?? '').toMatch(/HIT/);
    expect(whole.headers.get('cache-status')).toBe('ik-video-proxy; hit');
    const body = Buffer.from(await whole.arrayBuffer());
    expect(Number(whole.headers.get('content-length'))).toBe(body.length);
    expect(body.subarray(0, 2).equals(twoBytes)).toBe(true);
    expect(whole.headers.get('etag')).toBe(probeResponse.headers.get('etag'));
    const range = await fetch(url, { headers: { Range: 'bytes=0-1' } });
    expect(range.headers.get('content-range')).toBe(`bytes 0-1/${body.length}`);
  });

  test('nothing but finished outputs is left in the cache folder', async () => {
    expect(await waitFor(() => proxy.proxy.service.liveJobCount === 0, 30_000)).toBe(true);
    const leftovers = (await filesUnder(proxy.cacheDir)).filter((file) => /\.part$|\.tmp$/.test(file));
    expect(leftovers).toEqual([]);
  });
});
