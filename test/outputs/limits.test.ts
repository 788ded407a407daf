import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { OUTPUT_KINDS } from '../../src/outputs/index.js';
import { createFfmpegSpy, type FfmpegSpy } from '../support/ffmpeg-spy.js';
import { startProxy, type TestProxy } from '../support/proxy.js';

/** One URL per output kind of the registry, all on the same 12 s 1280x720 source with audio. */
const EVERY_KIND: Record<keyof typeof OUTPUT_KINDS, string> = {
  video: '/sample.mp4?tr=w-100',
  'gif-video': '/sample.mp4/ik-gif-video.mp4?tr=w-100',
  thumbnail: '/sample.mp4/ik-thumbnail.jpg?tr=w-100',
  metadata: '/sample.mp4/ik-metadata.json',
  'hls-master': '/sample.mp4/ik-master.m3u8?tr=sr-240_360',
  'dash-manifest': '/sample.mp4/ik-master.mpd?tr=sr-240_360',
  'hls-media': '/sample.mp4/ik-abs/240/index.m3u8?tr=sr-240_360',
  'abs-init': '/sample.mp4/ik-abs/240/init.mp4?tr=sr-240_360',
  'abs-segment': '/sample.mp4/ik-abs/240/seg-0.m4s?tr=sr-240_360',
  'seek-vtt': '/sample.mp4/ik-seek-thumbnail-track.vtt',
  sprite: '/sample.mp4/ik-sprite-0.jpg',
  'caption-playlist': '/sample.mp4/ik-abs/text-en/index.m3u8?tr=sr-240_360',
  'caption-track': '/sample.mp4/ik-abs/text-en/captions.vtt?tr=sr-240_360',
};

/** Each source limit, set just below what `sample.mp4` has, and the answer every kind must give. */
const LIMITS = [
  { env: { MAX_SOURCE_DURATION: '3s' }, status: 422, code: 'source_too_long' },
  { env: { MAX_SOURCE_PIXELS: '100000' }, status: 422, code: 'source_too_many_pixels' },
  { env: { MAX_SOURCE_STREAMS: '1' }, status: 422, code: 'source_too_many_streams' },
  { env: { MAX_SOURCE_BYTES: '1000' }, status: 413, code: 'source_too_large' },
] as const;

async function cachedEntries(dir: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (folder: string): Promise<void> => {
    for (const entry of await readdir(folder, { withFileTypes: true }).catch(() => [])) {
      const full = path.join(folder, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.name.endsWith('.json')) found.push(full);
    }
  };
  await walk(dir);
  return found;
}

describe.each(LIMITS)('every output kind refuses a source over $env', ({ env, status, code }) => {
  let proxy: TestProxy;
  let spy: FfmpegSpy;
  beforeAll(async () => {
    spy = await createFfmpegSpy();
    proxy = await startProxy({ ...env, FFMPEG_PATH: spy.path });
  });
  afterAll(async () => {
    await proxy.close();
    await spy.remove();
  });

  test.each(Object.entries(EVERY_KIND))(
    '%s -> the same status and code, twice, nothing made',
    async (_kind, url) => {
      for (let attempt = 0; attempt < 2; attempt++) {
        const response = await fetch(proxy.url + url);
        const body = (await response.json()) as { error: { code: string; message: string } };
        expect(response.status).toBe(status);
        expect(body.error.code).toBe(code);
        expect(response.headers.get('cache-control')).toBe('no-store');
      }
    },
  );

  test('no encode ran and nothing was cached', async () => {
    expect(await spy.runs()).toEqual([]);
    expect(await cachedEntries(proxy.cacheDir)).toEqual([]);
  });

  test('the original obeys the byte limit only: it does no work beyond streaming bytes', async () => {
    const response = await fetch(`${proxy.url}/sample.mp4`);
    await response.arrayBuffer();
    expect(response.status).toBe(code === 'source_too_large' ? 413 : 200);
  });
});
