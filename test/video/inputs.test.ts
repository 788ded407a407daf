import { describe, expect, test } from 'vitest';
import { decodeErrors, ffprobe, packetSpan, streamOf } from '../support/ffprobe.js';
import { fixturesWhere } from '../support/fixtures.js';
import { useProxy } from '../support/proxy.js';
import { download, useWorkDir } from './support.js';

// Every input of the seed's table (and the special cases) must become a playable mp4 and webm.
// Small outputs keep the loop fast: 160 px wide, at most 2 s.
const OUTPUT_WIDTH = 160;
const videos = fixturesWhere({ kind: 'video' });

const proxy = useProxy();
const work = useWorkDir();

test('the manifest lists the video inputs this suite is about', () => {
  expect(videos.length).toBeGreaterThanOrEqual(20);
  expect(videos.some((entry) => entry.traits.includes('rotated'))).toBe(true);
});

describe.each(videos.map((entry) => [entry.name, entry] as const))('%s', (name, entry) => {
  test.each([
    ['f-mp4', 'video/mp4', 'h264', 'aac'],
    ['f-webm', 'video/webm', 'vp9', 'opus'],
  ])(`%s plays`, async (format, contentType, videoCodec, audioCodec) => {
    const { response, file, body } = await download(
      `${proxy.url}/${name}?tr=${format},w-${OUTPUT_WIDTH},du-2`,
      work.dir,
    );
    expect(response.status, body.subarray(0, 300).toString()).toBe(200);
    expect(response.headers.get('content-type')).toBe(contentType);
    expect(await decodeErrors(file)).toBe('');

    const probed = await ffprobe(file);
    const video = streamOf(probed, 'video');
    expect(video?.codec_name).toBe(videoCodec);
    expect(streamOf(probed, 'audio')?.codec_name).toBe(entry.hasAudio ? audioCodec : undefined);

    const width = video?.width ?? 0;
    const height = video?.height ?? 0;
    expect(width).toBe(OUTPUT_WIDTH);
    expect(height % 2).toBe(0);
    // Display orientation survives: the rotated phone clip and portrait sources stay portrait,
    // with the rotation applied to the pixels rather than left as metadata.
    const sourceAspect = (entry.width ?? 1) / (entry.height ?? 1);
    expect(Math.abs(width / height - sourceAspect) / sourceAspect).toBeLessThan(0.03);
    if (entry.traits.includes('portrait')) expect(height).toBeGreaterThan(width);
    expect(video?.side_data_list?.some((side) => (side.rotation ?? 0) !== 0) ?? false).toBe(false);

    // A streamed webm has no duration in its header: measure the packets.
    const span = await packetSpan(file, 'v');
    const duration = span.end - span.first;
    expect(duration).toBeGreaterThan(Math.min(2, entry.duration ?? 2) - 0.3);
    expect(duration).toBeLessThan(2.3);
  });
});
