import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, afterEach, beforeEach, describe, expect, test } from 'vitest';
import { createFfmpegSpy, type FfmpegSpy } from '../support/ffmpeg-spy.js';
import { decodeCompletely, ffprobeBytes } from '../support/ffprobe.js';
import { startProxy, type TestProxy } from '../support/proxy.js';
import { expectJsonError, fetchBytes } from './helpers.js';

let spy: FfmpegSpy;
let proxy: TestProxy;
const scratch = await mkdtemp(path.join(os.tmpdir(), 'ikvp-single-flight-'));

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** Before each test of the enclosing describe: a new spy and a proxy running ffmpeg through it; both go after. */
function freshSpiedProxyPerTest(): void {
  beforeEach(async () => {
    spy = await createFfmpegSpy();
    proxy = await startProxy({ FFMPEG_PATH: spy.path });
  });
  afterEach(async () => {
    await proxy?.close();
    await spy?.remove();
  });
}

/** How many ffmpeg runs the spy has seen whose argv contains `marker`. */
async function runsMatching(marker: RegExp): Promise<number> {
  return (await spy.runs()).filter((run) => marker.test(run.argv)).length;
}

describe('single flight', () => {
  freshSpiedProxyPerTest();

  test('20 identical concurrent cold thumbnail requests -> exactly 1 ffmpeg run, 20 identical answers', async () => {
    const url = `${proxy.url}/sample.mp4/ik-thumbnail.jpg?tr=so-3,w-111`;
    const responses = await Promise.all(Array.from({ length: 20 }, () => fetchBytes(url)));
    for (const response of responses) {
      expect(response.status).toBe(200);
      expect(response.body.equals(responses[0]!.body)).toBe(true);
    }
    const meta = await sharp(responses[0]!.body).metadata();
    expect([meta.format, meta.width]).toEqual(['jpeg', 111]);
    expect((await spy.runs()).length).toBe(1);
    // And a later request is served from the cache without another run.
    const later = await fetchBytes(url);
    expect(later.headers.get('x-cache')).toMatch(/^HIT/);
    expect((await spy.runs()).length).toBe(1);
  });

  test('20 identical concurrent cold video transforms -> 1 ffmpeg run, identical decodable bodies', async () => {
    const url = `${proxy.url}/sample.mp4?tr=w-320,du-3`;
    const responses = await Promise.all(Array.from({ length: 20 }, () => fetchBytes(url)));
    for (const response of responses) {
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('video/mp4');
      expect(response.body.equals(responses[0]!.body)).toBe(true);
    }
    expect((await spy.runs()).length).toBe(1);
    const file = path.join(scratch, 'shared.mp4');
    await writeFile(file, responses[0]!.body);
    await decodeCompletely(file);
    const probe = await ffprobeBytes(responses[0]!.body, 'mp4');
    const video = probe.streams.find((stream) => stream.codec_type === 'video')!;
    expect(video.width).toBe(320);
    expect(Number(probe.format.duration)).toBeGreaterThan(2.8);
    expect(Number(probe.format.duration)).toBeLessThan(3.3);
  });

  test('a client that aborts a video transform does not cancel the job for another viewer', async () => {
    const url = `${proxy.url}/sample.mp4?tr=w-240,du-4`;
    const leaver = new AbortController();
    const leaving = fetch(url, { signal: leaver.signal }).then(async (response) => {
      // Take the first bytes, then hang up mid-stream.
      const reader = response.body!.getReader();
      await reader.read();
      leaver.abort();
      return response.status;
    });
    const staying = fetchBytes(url);
    expect(await leaving).toBe(200);
    const kept = await staying;
    expect(kept.status).toBe(200);
    const file = path.join(scratch, 'kept.mp4');
    await writeFile(file, kept.body);
    await decodeCompletely(file);
    const probe = await ffprobeBytes(kept.body, 'mp4');
    expect(Number(probe.format.duration)).toBeGreaterThan(3.8);
    expect((await spy.runs()).length).toBe(1);
    // The finished output reached the cache, though its first viewer left.
    const again = await fetchBytes(url);
    expect(again.headers.get('x-cache')).toMatch(/^HIT/);
    expect(again.body.equals(kept.body)).toBe(true);
    expect((await spy.runs()).length).toBe(1);
  });

  test('a client that aborts a cold thumbnail at once does not cancel it for others', async () => {
    const url = `${proxy.url}/sample.mp4/ik-thumbnail.jpg?tr=so-7,w-222`;
    const leaver = new AbortController();
    const leaving = fetch(url, { signal: leaver.signal }).catch((error: Error) => error.name);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const staying = fetchBytes(url);
    leaver.abort();
    await leaving;
    const kept = await staying;
    expect(kept.status).toBe(200);
    expect((await sharp(kept.body).metadata()).width).toBe(222);
    expect((await spy.runs()).length).toBe(1);
  });
});

describe('requests that meet a video encode as it finishes', () => {
  freshSpiedProxyPerTest();

  // Safari's first request for a video is such a probe; design §2: never a broken answer. (A Range
  // request once waited for the encode, woke before the cache write and got 503.)
  test('a Range probe (bytes=0-1) on a cold video transform gets 206 with the first 2 bytes', async () => {
    for (const width of [200, 202]) {
      const response = await fetchBytes(`${proxy.url}/sample.mp4?tr=w-${width},du-2`, {
        headers: { Range: 'bytes=0-1' },
      });
      expect(response.status, response.body.toString('utf8')).toBe(206);
      // While the encode runs the total is unknown (`*`); once it is stored, the exact length.
      expect(response.headers.get('content-range')).toMatch(/^bytes 0-1\/(\d+|\*)$/);
      expect(response.body.length).toBe(2);
    }
  });

  // The job must stay joinable until its output is in the cache, or a request arriving between
  // the end of the encode and the cache write starts a second encode.
  test('an identical request right after an encode finished reuses it instead of encoding again', async () => {
    for (const width of [204, 206, 208]) {
      const url = `${proxy.url}/sample.mp4?tr=w-${width},du-2`;
      expect((await fetchBytes(url)).status).toBe(200);
      const before = (await spy.runs()).length;
      expect((await fetchBytes(url)).status).toBe(200);
      expect((await spy.runs()).length).toBe(before);
    }
  });
});

describe('job limiter', () => {
  let limited: TestProxy;

  beforeEach(async () => {
    spy = await createFfmpegSpy();
    limited = await startProxy({ FFMPEG_PATH: spy.path, MAX_JOBS: '1', MAX_QUEUE: '1' });
  });
  afterEach(async () => {
    await limited?.close();
    await spy?.remove();
  });

  test('MAX_JOBS=1 MAX_QUEUE=1: distinct cold transforms beyond the queue get 503, never 2 ffmpegs at once', async () => {
    // Warm the probe so every request below reaches the limiter at about the same moment.
    expect((await fetchBytes(`${limited.url}/sample.mp4/ik-metadata.json`)).status).toBe(200);
    const urls = [
      ...[1, 2, 3].map((second) => `${limited.url}/sample.mp4?tr=w-320,so-${second},du-4`),
      ...[4, 5, 6].map((second) => `${limited.url}/sample.mp4/ik-thumbnail.jpg?tr=so-${second},w-640`),
    ];
    const responses = await Promise.all(urls.map((url) => fetchBytes(url)));
    const statuses = responses.map((response) => response.status);
    const ok = responses.filter((response) => response.status === 200);
    const overloaded = responses.filter((response) => response.status === 503);
    // One runs, one waits; everything else is turned away at once.
    expect(ok.length + overloaded.length, `statuses ${statuses}`).toBe(urls.length);
    expect(ok.length).toBeGreaterThanOrEqual(1);
    expect(ok.length).toBeLessThanOrEqual(2);
    expect(overloaded.length).toBeGreaterThanOrEqual(urls.length - 2);
    for (const response of overloaded) {
      const error = expectJsonError(response, 503);
      expect(error.code).toBe('overloaded');
      expect(Number(response.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(response.headers.get('x-cache')).toBeNull();
    }
    expect(await spy.maxConcurrent()).toBe(1);
    expect((await spy.runs()).length).toBe(ok.length);

    // A rejected request is not remembered: asked again when the proxy is idle, it succeeds.
    const retried = urls[responses.findIndex((response) => response.status === 503)]!;
    const again = await fetchBytes(retried);
    expect(again.status).toBe(200);
    expect(again.headers.get('x-cache')).toMatch(/^MISS/);
    expect(await spy.maxConcurrent()).toBe(1);
  });

  test('the concurrency count is live: with MAX_JOBS=2 two video encodes overlap', async () => {
    await limited.close();
    limited = await startProxy({ FFMPEG_PATH: spy.path, MAX_JOBS: '2', MAX_QUEUE: '10' });
    const urls = [1, 2].map((second) => `${limited.url}/sample.mp4?tr=w-640,so-${second},du-6`);
    const responses = await Promise.all(urls.map((url) => fetchBytes(url)));
    expect(responses.map((response) => response.status)).toEqual([200, 200]);
    expect(await spy.maxConcurrent()).toBe(2);
  });

  test('MAX_JOBS=1 with a queue: queued jobs run one after another and all succeed', async () => {
    await limited.close();
    limited = await startProxy({ FFMPEG_PATH: spy.path, MAX_JOBS: '1', MAX_QUEUE: '10' });
    const urls = [2, 4, 6, 8].map(
      (second) => `${limited.url}/sample.mp4/ik-thumbnail.jpg?tr=so-${second},w-200`,
    );
    const responses = await Promise.all(urls.map((url) => fetchBytes(url)));
    expect(responses.map((response) => response.status)).toEqual([200, 200, 200, 200]);
    // A still is an ffmpeg seek, or a frame file cut from the index on stdin.
    expect(await runsMatching(/-ss |-i pipe:0/)).toBe(4);
    expect(await spy.maxConcurrent()).toBe(1);
  });
});
