import { stat } from 'node:fs/promises';
import { describe, expect, test } from 'vitest';
import { displayRotation, ffprobe } from '../support/ffprobe.js';
import { type FixtureEntry, fixturePath, loadManifest } from '../support/fixtures.js';
import { useProxy } from '../support/proxy.js';
import { expectJsonError, fetchBytes } from './helpers.js';

/** The document `/ik-metadata.json` returns (design §1), as far as these tests read it. */
interface MetadataDocument {
  duration: number | null;
  width: number | null;
  height: number | null;
  rotation: number;
  frameRate: number | null;
  videoCodec: string | null;
  audioCodec: string | null;
  bitRate: number | null;
  size: number;
  hasAudio: boolean;
}

const proxy = useProxy();

async function metadataOf(name: string): Promise<MetadataDocument> {
  const response = await fetchBytes(`${proxy.url}/${name}/ik-metadata.json`);
  expect(response.status, response.body.toString('utf8')).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  expect(response.headers.get('etag')).toMatch(/^"[^"]+"$/);
  return JSON.parse(response.body.toString('utf8')) as MetadataDocument;
}

/** Everything the metadata should say, worked out from the real ffprobe on the local file. */
async function expectedFromFfprobe(name: string) {
  const file = fixturePath(name);
  const probe = await ffprobe(file);
  const video = probe.streams.find((stream) => stream.codec_type === 'video');
  const audio = probe.streams.find((stream) => stream.codec_type === 'audio');
  const rotation = video ? displayRotation(video) : 0;
  const sideways = rotation === 90 || rotation === 270;
  const durations = [probe.format.duration, ...probe.streams.map((stream) => stream.duration)]
    .map(Number)
    .filter((value) => Number.isFinite(value) && value > 0);
  return {
    // ffprobe has no duration at all for raw elementary streams.
    duration: durations.length > 0 ? Number(probe.format.duration ?? Math.max(...durations)) : undefined,
    width: video ? (sideways ? video.height! : video.width!) : null,
    height: video ? (sideways ? video.width! : video.height!) : null,
    rotation,
    videoCodec: video?.codec_name ?? null,
    audioCodec: audio?.codec_name ?? null,
    hasAudio: audio !== undefined,
    size: (await stat(file)).size,
    bitRate: probe.format.bit_rate === undefined ? undefined : Number(probe.format.bit_rate),
  };
}

const playable = loadManifest().filter((entry) => entry.kind !== 'hostile');
const withKnownDuration = playable.filter((entry) => !entry.traits.includes('elementary-stream'));

describe('/ik-metadata.json matches ffprobe', () => {
  test.each(withKnownDuration.map((entry) => ({ ...entry })))('$name', async (entry: FixtureEntry) => {
    const [actual, expected] = await Promise.all([metadataOf(entry.name), expectedFromFfprobe(entry.name)]);
    expect(actual.duration).toBeCloseTo(expected.duration!, 2);
    expect({
      width: actual.width,
      height: actual.height,
      rotation: actual.rotation,
      videoCodec: actual.videoCodec,
      audioCodec: actual.audioCodec,
      hasAudio: actual.hasAudio,
      size: actual.size,
    }).toEqual({
      width: expected.width,
      height: expected.height,
      rotation: expected.rotation,
      videoCodec: expected.videoCodec,
      audioCodec: expected.audioCodec,
      hasAudio: expected.hasAudio,
      size: expected.size,
    });
    if (expected.bitRate !== undefined) expect(actual.bitRate).toBe(expected.bitRate);
    // The manifest is what the fixture script meant to make; both must agree with it too.
    expect([actual.width, actual.height, actual.rotation ?? 0]).toEqual([
      entry.width,
      entry.height,
      entry.rotation ?? 0,
    ]);
    if (entry.frameRate !== null) expect(actual.frameRate).toBeCloseTo(entry.frameRate, 2);
    if (entry.hasVideo) expect(actual.frameRate).toBeGreaterThan(0);
    else expect(actual.frameRate).toBeNull();
  });

  test('the rotated phone clip reports display size after rotation', async () => {
    const document = await metadataOf('rotated-phone.mp4');
    expect(document.rotation).toBe(90);
    expect(document.height).toBeGreaterThan(document.width!);
  });

  test('a second request is a cache hit with the same ETag', async () => {
    const first = await fetchBytes(`${proxy.url}/portrait.mp4/ik-metadata.json`);
    const second = await fetchBytes(`${proxy.url}/portrait.mp4/ik-metadata.json`);
    expect(second.headers.get('x-cache')).toMatch(/^HIT/);
    expect(second.headers.get('etag')).toBe(first.headers.get('etag'));
    expect(second.body.equals(first.body)).toBe(true);
  });

  // A raw elementary stream has no container duration: the document says null, never a false 0.
  test('a raw .hevc elementary stream does not claim to last 0 s', async () => {
    const entry = loadManifest().find((candidate) => candidate.traits.includes('elementary-stream'))!;
    const document = await metadataOf(entry.name);
    expect(document.width).toBe(entry.width);
    expect(document.videoCodec).toBe(entry.videoCodec);
    // Either unknown (null) or the real length; never a false 0.
    if (document.duration !== null) expect(document.duration).toBeCloseTo(entry.duration!, 0);
  });
});

describe('sources that are not media', () => {
  test.each(['not-a-video.txt', 'empty.mp4', 'random.mp4', 'playlist-disguised.mp4'])(
    '%s -> 415 JSON error',
    async (name) => {
      const error = expectJsonError(await fetchBytes(`${proxy.url}/${name}/ik-metadata.json`), 415);
      expect(error.message).toContain(name);
    },
  );
});
