import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { createFfmpegSpy, type FfmpegSpy } from '../support/ffmpeg-spy.js';
import { ffprobeBytes } from '../support/ffprobe.js';
import { fixturePath } from '../support/fixtures.js';
import { startProxy, type TestProxy } from '../support/proxy.js';
import { expectJsonError, fetchBytes } from './helpers.js';

let scratch: string;
let spy: FfmpegSpy;

beforeAll(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), 'ikvp-cache-it-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true, maxRetries: 20, retryDelay: 50 });
});
beforeEach(async () => {
  spy = await createFfmpegSpy();
});
afterEach(async () => {
  await spy?.remove();
});

describe('the disk tier survives a restart', () => {
  test('a new proxy on the same CACHE_DIR serves earlier outputs from disk without running ffmpeg', async () => {
    const cacheDir = path.join(scratch, 'restart-cache');
    const thumbnailUrl = '/sample.mp4/ik-thumbnail.jpg?tr=so-4,w-250';
    const videoUrl = '/sample.mp4?tr=w-160,du-2';

    const first = await startProxy({ CACHE_DIR: cacheDir, FFMPEG_PATH: spy.path });
    let original: {
      thumbnail: Awaited<ReturnType<typeof fetchBytes>>;
      video: Awaited<ReturnType<typeof fetchBytes>>;
    };
    try {
      original = {
        thumbnail: await fetchBytes(first.url + thumbnailUrl),
        video: await fetchBytes(first.url + videoUrl),
      };
      expect(original.thumbnail.status).toBe(200);
      expect(original.thumbnail.headers.get('x-cache')).toBe('MISS');
      expect(original.video.status).toBe(200);
      expect(original.video.headers.get('x-cache')).toMatch(/^MISS/);
      // Ask again until the video is stored (its cache write may finish just after the stream ends).
      let settled = await fetchBytes(first.url + videoUrl);
      for (let attempt = 0; attempt < 20 && !settled.headers.get('x-cache')?.startsWith('HIT'); attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        settled = await fetchBytes(first.url + videoUrl);
      }
      expect(settled.headers.get('x-cache')).toMatch(/^HIT/);
    } finally {
      await first.close();
    }
    const runsBeforeRestart = (await spy.runs()).length;
    expect(runsBeforeRestart).toBe(2);

    const second = await startProxy({ CACHE_DIR: cacheDir, FFMPEG_PATH: spy.path });
    try {
      const thumbnail = await fetchBytes(second.url + thumbnailUrl);
      expect(thumbnail.status).toBe(200);
      expect(thumbnail.headers.get('x-cache')).toBe('HIT-DISK');
      expect(thumbnail.body.equals(original.thumbnail.body)).toBe(true);
      expect(thumbnail.headers.get('etag')).toBe(original.thumbnail.headers.get('etag'));

      const video = await fetchBytes(second.url + videoUrl);
      expect(video.status).toBe(200);
      expect(video.headers.get('x-cache')).toBe('HIT-DISK');
      expect(video.body.equals(original.video.body)).toBe(true);

      // Served from disk, the output still answers Range like any complete body.
      const ranged = await fetchBytes(second.url + videoUrl, { headers: { Range: 'bytes=0-99' } });
      expect(ranged.status).toBe(206);
      expect(ranged.headers.get('content-range')).toBe(`bytes 0-99/${original.video.body.length}`);
      expect(ranged.body.equals(original.video.body.subarray(0, 100))).toBe(true);
    } finally {
      await second.close();
    }
    expect((await spy.runs()).length).toBe(runsBeforeRestart);
    await rm(cacheDir, { recursive: true, force: true, maxRetries: 20, retryDelay: 50 });
  });
});

describe('a changed source is never answered with an old result', () => {
  let origin: string;
  let proxy: TestProxy;

  beforeEach(async () => {
    origin = await mkdtemp(path.join(scratch, 'origin-'));
    // SOURCE_TTL is how long a source's identity is trusted; 1 ms makes every request look again.
    proxy = await startProxy({ ORIGIN: origin, SOURCE_TTL: '0.001', FFMPEG_PATH: spy.path });
  });
  afterEach(async () => {
    await proxy?.close();
  });

  test('overwriting the file with another video gives a new thumbnail, metadata and original', async () => {
    const clip = path.join(origin, 'clip.mp4');
    await copyFile(fixturePath('sample.mp4'), clip);
    const thumbnailUrl = `${proxy.url}/clip.mp4/ik-thumbnail.jpg?tr=w-200`;
    const before = await fetchBytes(thumbnailUrl);
    expect(before.status).toBe(200);
    expect(await sharp(before.body).metadata()).toMatchObject({ width: 200, height: 113 });
    const metadataBefore = JSON.parse(
      (await fetchBytes(`${proxy.url}/clip.mp4/ik-metadata.json`)).body.toString(),
    );
    expect([metadataBefore.width, metadataBefore.height]).toEqual([1280, 720]);
    // Cached now.
    expect((await fetchBytes(thumbnailUrl)).headers.get('x-cache')).toMatch(/^HIT/);

    await new Promise((resolve) => setTimeout(resolve, 20));
    await copyFile(fixturePath('portrait.mp4'), clip);
    await new Promise((resolve) => setTimeout(resolve, 20));

    const after = await fetchBytes(thumbnailUrl);
    expect(after.status).toBe(200);
    expect(after.headers.get('x-cache')).toBe('MISS');
    expect(after.headers.get('etag')).not.toBe(before.headers.get('etag'));
    // portrait.mp4 is 720x1280: the new thumbnail is portrait.
    const turned = await sharp(after.body).metadata();
    expect(turned.width).toBe(200);
    expect(Math.abs(turned.height - (200 * 1280) / 720)).toBeLessThan(1);
    const metadataAfter = JSON.parse(
      (await fetchBytes(`${proxy.url}/clip.mp4/ik-metadata.json`)).body.toString(),
    );
    expect([metadataAfter.width, metadataAfter.height]).toEqual([720, 1280]);
    const originalAfter = await fetchBytes(`${proxy.url}/clip.mp4`);
    const probe = await ffprobeBytes(originalAfter.body, 'mp4');
    expect(probe.streams.find((stream) => stream.codec_type === 'video')).toMatchObject({
      width: 720,
      height: 1280,
    });
  });

  test('a video transform of a replaced source is made again from the new file', async () => {
    const clip = path.join(origin, 'clip.mp4');
    await copyFile(fixturePath('sample.mp4'), clip);
    const url = `${proxy.url}/clip.mp4?tr=h-180,du-1`;
    const before = await fetchBytes(url);
    expect(before.status).toBe(200);
    const widthOf = async (body: Buffer) =>
      (await ffprobeBytes(body, 'mp4')).streams.find((stream) => stream.codec_type === 'video')!.width;
    expect(await widthOf(before.body)).toBe(320);
    await new Promise((resolve) => setTimeout(resolve, 300));

    await copyFile(fixturePath('portrait.mp4'), clip);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const after = await fetchBytes(url);
    expect(after.status).toBe(200);
    // portrait.mp4 is 720x1280, so 180 px high is about 101 px wide (the encoder may round to even).
    expect(Math.abs((await widthOf(after.body))! - 101.25)).toBeLessThanOrEqual(1);
  });

  test('a 404 is not remembered: once the file appears it is served', async () => {
    const missing = await fetchBytes(`${proxy.url}/late.mp4/ik-thumbnail.jpg?tr=w-100`);
    expectJsonError(missing, 404);
    await copyFile(fixturePath('sample.mp4'), path.join(origin, 'late.mp4'));
    await new Promise((resolve) => setTimeout(resolve, 20));
    const present = await fetchBytes(`${proxy.url}/late.mp4/ik-thumbnail.jpg?tr=w-100`);
    expect(present.status).toBe(200);
    expect(present.headers.get('x-cache')).toBe('MISS');
  });
});

describe('errors are not cached', () => {
  let proxy: TestProxy;

  beforeEach(async () => {
    proxy = await startProxy({ FFMPEG_PATH: spy.path });
  });
  afterEach(async () => {
    await proxy?.close();
  });

  test.each([
    { url: '/sample.mp4/ik-thumbnail.jpg?tr=so-100', status: 400 },
    { url: '/sample.mp4/ik-thumbnail.jpg?tr=w-abc', status: 400 },
    { url: '/sample.mp4?tr=q-500', status: 400 },
    { url: '/not-a-video.txt/ik-thumbnail.jpg', status: 415 },
    { url: '/nothing-here.mp4/ik-metadata.json', status: 404 },
  ])('$url twice -> $status both times, never a HIT', async ({ url, status }) => {
    for (let attempt = 0; attempt < 2; attempt++) {
      const response = await fetchBytes(proxy.url + url);
      expectJsonError(response, status);
      expect(response.headers.get('x-cache')).toBeNull();
      expect(response.headers.get('etag')).toBeNull();
    }
  });
});
