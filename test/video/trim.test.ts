import { describe, expect, test } from 'vitest';
import { packetSpan } from '../support/ffprobe.js';
import { fixtureEntry } from '../support/fixtures.js';
import { useProxy } from '../support/proxy.js';
import { download, useWorkDir } from './support.js';

// fixtures/sample.mp4: 12 s at 30 fps with 48 kHz audio.
const FRAME = 1 / 30;
const SYNC_TOLERANCE = 0.05;

const proxy = useProxy();
const work = useWorkDir();

describe('trim is frame-accurate and keeps audio in sync', () => {
  const sourceDuration = fixtureEntry('sample.mp4').duration ?? 12;
  test.each([
    ['so-2,du-3', 3],
    ['so-2,eo-5', 3],
    ['so-1.5,du-2', 2],
    ['eo-2.5', 2.5],
    ['du-idu_mul_0.5', sourceDuration * 0.5],
    ['so-10', sourceDuration - 10],
  ])('%s lasts %s s', async (tr, expected) => {
    for (const format of ['f-mp4', 'f-webm']) {
      const { response, file } = await download(`${proxy.url}/sample.mp4?tr=${tr},${format},w-160`, work.dir);
      expect(response.status).toBe(200);
      const video = await packetSpan(file, 'v');
      const audio = await packetSpan(file, 'a');
      const label = `${tr},${format}: video ${video.first}..${video.end}, audio ${audio.first}..${audio.end}`;
      // Both streams start together, near the output's zero (mp4 shifts both by the B-frame delay)...
      expect(Math.abs(video.first), label).toBeLessThanOrEqual(0.1);
      expect(Math.abs(audio.first - video.first), label).toBeLessThanOrEqual(SYNC_TOLERANCE);
      // ...the picture lasts what was asked within one frame...
      expect(Math.abs(video.end - video.first - expected), label).toBeLessThanOrEqual(FRAME + 1e-3);
      // ...and the sound ends with it.
      expect(Math.abs(audio.end - video.end), label).toBeLessThanOrEqual(SYNC_TOLERANCE);
    }
  });
});
