import { afterAll, beforeAll, expect, test } from 'vitest';
import { createFfmpegSpy, type FfmpegSpy } from '../support/ffmpeg-spy.js';
import { ffprobeBytes, streamOf } from '../support/ffprobe.js';
import { startProxy, type TestProxy } from '../support/proxy.js';

/**
 * One URL per rendition segment: the 360p segment N that `sr-240_360` and `sr-240_360_720` list
 * is one URL (so one CDN object) and one encode, and the chain's other steps stay on it.
 */

let spy: FfmpegSpy;
let proxy: TestProxy;

beforeAll(async () => {
  spy = await createFfmpegSpy();
  proxy = await startProxy({ FFMPEG_PATH: spy.path, SEGMENT_SECONDS: '2' });
});

afterAll(async () => {
  await proxy?.close();
  await spy?.remove();
});

async function text(path: string): Promise<string> {
  const response = await fetch(`${proxy.url}${path}`);
  const body = await response.text();
  expect(response.status, body).toBe(200);
  return body;
}

/** The absolute path of the `index`th segment listed by a media playlist at `playlistPath`. */
function segmentPath(playlistPath: string, playlist: string, index: number): string {
  const line = playlist.split('\n').filter((entry) => entry.startsWith('seg-'))[index];
  expect(line).toBeDefined();
  return (
    new URL(line!, `http://x${playlistPath}`).pathname + new URL(line!, `http://x${playlistPath}`).search
  );
}

test('two ladders list the same URL for a shared rendition segment, and it is encoded once', async () => {
  const small = '/sample.mp4/ik-abs/360/index.m3u8?tr=du-4,sr-240_360';
  const large = '/sample.mp4/ik-abs/360/index.m3u8?tr=sr-240_360_720,du-4';
  const fromSmall = segmentPath(small, await text(small), 1);
  const fromLarge = segmentPath(large, await text(large), 1);
  expect(fromSmall).toBe('/sample.mp4/ik-abs/360/seg-1.m4s?tr=du-4');
  expect(fromLarge).toBe(fromSmall);
  // The DASH manifest's templates build the same URLs.
  const mpd = await text('/sample.mp4/ik-master.mpd?tr=sr-360_720,du-4');
  expect(mpd).toContain('media="ik-abs/$RepresentationID$/seg-$Number$.m4s?tr=du-4"');

  const before = (await spy.runs()).length;
  const first = await fetch(`${proxy.url}${fromSmall}`);
  const firstBody = Buffer.from(await first.arrayBuffer());
  expect(first.status).toBe(200);
  expect((await spy.runs()).length - before).toBe(1);
  // The old spelling with the ladder in the query is the same object: no second encode.
  const withLadder = await fetch(`${proxy.url}/sample.mp4/ik-abs/360/seg-1.m4s?tr=du-4,sr-240_360_720`);
  expect(Buffer.from(await withLadder.arrayBuffer()).equals(firstBody)).toBe(true);
  const again = await fetch(`${proxy.url}${fromLarge}`);
  expect(again.headers.get('cache-status')).toBe('ik-video-proxy; hit');
  await again.arrayBuffer();
  const segmentRuns = (await spy.runs()).slice(before).filter((run) => !run.argv.includes('ffprobe'));
  expect(segmentRuns.length).toBeLessThanOrEqual(2); // the segment, and at most its prefetched successor
});

test('an audio segment needs no ladder, and the listed audio URLs are ladder-free too', async () => {
  const master = await text('/sample.mp4/ik-master.m3u8?tr=sr-240_360,du-4');
  expect(master).toContain('URI="ik-abs/audio/index.m3u8?tr=du-4,sr-240_360"');
  const audio = await text('/sample.mp4/ik-abs/audio/index.m3u8?tr=du-4,sr-240_360');
  expect(audio).toMatch(/^seg-0\.m4s\?tr=du-4$/m);
  const segment = await fetch(`${proxy.url}/sample.mp4/ik-abs/audio/seg-0.m4s?tr=du-4`);
  expect(segment.status).toBe(200);
  expect(segment.headers.get('content-type')).toBe('audio/mp4');
  // Decoded, not measured: the ladder-free init and segment make an AAC stream of the segment's length.
  const init = await fetch(`${proxy.url}/sample.mp4/ik-abs/audio/init.mp4?tr=du-4`);
  expect(init.status).toBe(200);
  const probed = await ffprobeBytes(
    Buffer.concat([Buffer.from(await init.arrayBuffer()), Buffer.from(await segment.arrayBuffer())]),
    'mp4',
  );
  expect(streamOf(probed, 'audio')?.codec_name).toBe('aac');
  expect(streamOf(probed, 'video')).toBeUndefined();
  expect(Number(probed.format.duration)).toBeGreaterThan(1);
});
