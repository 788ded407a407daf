import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createFfmpegSpy, type FfmpegSpy } from '../support/ffmpeg-spy.js';
import { ffprobeBytes } from '../support/ffprobe.js';
import { startProxy, type TestProxy } from '../support/proxy.js';

/**
 * Back-pressure (issue 5): with MAX_JOBS=1 and MAX_QUEUE=2, a flood of distinct cold transforms
 * never runs more than one ffmpeg at a time (measured by an FFMPEG_PATH spy that logs each
 * process's start and end), the overflow is 503 + Retry-After + no-store, and a cached thumbnail
 * keeps answering fast meanwhile.
 */

const FLOOD = 12;
const MAX_JOBS = 1;
const MAX_QUEUE = 2;

let dir: string;
let spy: FfmpegSpy;
let proxy: TestProxy;

async function timedGet(url: string): Promise<{ ms: number; status: number; cache: string | null }> {
  const started = performance.now();
  const response = await fetch(url);
  await response.arrayBuffer();
  return { ms: performance.now() - started, status: response.status, cache: response.headers.get('x-cache') };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ikvp-flood-'));
  spy = await createFfmpegSpy({ timed: true });
  proxy = await startProxy({
    CACHE_DIR: path.join(dir, 'cache'),
    FFMPEG_PATH: spy.path,
    MAX_JOBS: String(MAX_JOBS),
    MAX_QUEUE: String(MAX_QUEUE),
  });
});

afterAll(async () => {
  await proxy?.close();
  await spy?.remove();
  if (dir) await rm(dir, { recursive: true, force: true, maxRetries: 5 });
});

describe(`a flood of ${FLOOD} distinct cold transforms with MAX_JOBS=${MAX_JOBS}, MAX_QUEUE=${MAX_QUEUE}`, () => {
  test('ffmpeg never exceeds MAX_JOBS, the overflow is 503 + Retry-After + no-store, cache hits stay fast', async () => {
    const thumbnail = `${proxy.url}/sample.mp4/ik-thumbnail.jpg?tr=so-2,w-200`;
    expect((await timedGet(thumbnail)).status).toBe(200);
    const idle: number[] = [];
    for (let i = 0; i < 5; i++) {
      const hit = await timedGet(thumbnail);
      expect(hit.cache).toMatch(/^HIT-/);
      idle.push(hit.ms);
    }

    // Short outputs (du-2) keep the accepted jobs quick; each width is a distinct cold output.
    const urls = Array.from({ length: FLOOD }, (_, i) => `${proxy.url}/sample.mp4?tr=w-${96 + 16 * i},du-2`);
    const flood = Promise.all(
      urls.map(async (url) => {
        const response = await fetch(url);
        const body = Buffer.from(await response.arrayBuffer());
        return { status: response.status, headers: response.headers, body };
      }),
    );
    // Sample hits while the flood is being handled (jobs queued and running).
    const during: number[] = [];
    let sawBusy = false;
    for (let i = 0; i < 10; i++) {
      const stats = proxy.proxy.limiter.stats();
      if (stats.running > 0) sawBusy = true;
      const hit = await timedGet(thumbnail);
      expect(hit.status).toBe(200);
      expect(hit.cache).toMatch(/^HIT-/);
      during.push(hit.ms);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const responses = await flood;

    const statuses = responses.map((response) => response.status);
    expect(
      statuses.every((status) => status === 200 || status === 503),
      statuses.join(','),
    ).toBe(true);
    const accepted = responses.filter((response) => response.status === 200);
    const rejected = responses.filter((response) => response.status === 503);
    expect(accepted.length).toBeGreaterThanOrEqual(1);
    // All arrive together: one runs, MAX_QUEUE wait, the rest are turned away.
    expect(rejected.length).toBeGreaterThanOrEqual(FLOOD - MAX_JOBS - MAX_QUEUE);
    for (const response of rejected) {
      expect(Number(response.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(JSON.parse(response.body.toString()).error.code).toBe('overloaded');
    }
    for (const response of accepted) {
      expect(response.headers.get('content-type')).toBe('video/mp4');
      // Accepted under pressure still means a real video, not a truncated stream.
      const probe = await ffprobeBytes(response.body, 'mp4');
      expect(probe.streams.some((stream) => stream.codec_type === 'video')).toBe(true);
    }

    const max = await spy.maxOverlap();
    const processes = (await spy.runs()).length;
    // The warm-up thumbnail plus one encode per accepted transform went through the wrapper.
    expect(processes).toBeGreaterThanOrEqual(1 + accepted.length);
    expect(max).toBe(MAX_JOBS);
    expect(sawBusy).toBe(true);
    expect(proxy.proxy.limiter.stats()).toMatchObject({ running: 0, queued: 0 });
    expect(proxy.proxy.limiter.stats().rejected).toBe(rejected.length);

    const idleMedian = median(idle);
    const floodMedian = median(during);
    console.info(
      `cache hit latency: idle median ${idleMedian.toFixed(1)} ms, during the flood median ${floodMedian.toFixed(1)} ms, max ${Math.max(...during).toFixed(1)} ms`,
    );
    // A test, not a benchmark: generous bounds that still catch hits queued behind jobs (seconds).
    expect(floodMedian).toBeLessThan(100);
    expect(Math.max(...during)).toBeLessThan(1000);

    // A rejected transform was not cached as an error: asking again (now idle) makes it.
    const retry = await fetch(urls[statuses.indexOf(503)]!);
    await retry.arrayBuffer();
    expect(retry.status).toBe(200);
    // Let the encode hand its file to the cache before the folder is removed.
    for (let i = 0; i < 100 && proxy.proxy.service.liveJobCount > 0; i++)
      await new Promise((resolve) => setTimeout(resolve, 50));
    expect(proxy.proxy.service.liveJobCount).toBe(0);
  });
});
