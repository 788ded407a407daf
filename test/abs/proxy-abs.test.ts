import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ffprobe, type ProbedStream, REAL_FFMPEG } from '../support/ffprobe.js';
import { ensureLargeFixture } from '../support/fixtures.js';
import { startProxy, type TestProxy } from '../support/proxy.js';

/**
 * Adaptive streaming end to end over HTTP: the manifests the proxy writes from the probe alone
 * must describe the segments it later encodes (checked with ffprobe, not with the planner), and a
 * real HLS client (ffmpeg's demuxer) must read the stream without timestamp trouble.
 */

const execFileAsync = promisify(execFile);

/** 16:9 widths of the ladder heights, rounded to even numbers. */
const WIDTH_OF_HEIGHT: Record<number, number> = { 240: 426, 360: 640, 480: 854, 720: 1280, 1080: 1920 };

let workDir: string;
let originDir: string;
let proxy: TestProxy;

async function run(command: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  try {
    return await execFileAsync(command, args, { maxBuffer: 64 * 1024 * 1024 });
  } catch (error) {
    const failed = error as Error & { stderr?: string };
    throw new Error(`${command} ${args.join(' ')} failed: ${failed.stderr?.slice(-3000) ?? failed.message}`);
  }
}

/** A flat grey 426x240 H.264 + silent AAC file: cheap to make, long enough to need many segments. */
async function makeFlatSource(file: string, seconds: number): Promise<void> {
  await run(REAL_FFMPEG, [
    ...['-nostdin', '-v', 'error', '-y'],
    ...['-f', 'lavfi', '-i', `color=c=gray:s=426x240:r=10:d=${seconds}`],
    ...['-f', 'lavfi', '-i', 'anullsrc=r=48000:cl=stereo', '-t', String(seconds)],
    ...['-c:v', 'libx264', '-preset', 'ultrafast', '-crf', '35', '-g', '40', '-pix_fmt', 'yuv420p'],
    ...['-c:a', 'aac', '-b:a', '32k', '-movflags', '+faststart', file],
  ]);
}

interface Fetched {
  status: number;
  headers: Headers;
  body: Buffer;
  text: string;
  ms: number;
}

async function get(pathAndQuery: string): Promise<Fetched> {
  const started = performance.now();
  const response = await fetch(proxy.url + pathAndQuery);
  const body = Buffer.from(await response.arrayBuffer());
  return {
    status: response.status,
    headers: response.headers,
    body,
    text: body.toString('utf8'),
    ms: performance.now() - started,
  };
}

/** `KEY=value,KEY="a,b"` attribute lists of HLS tags. */
function hlsAttributes(list: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const match of list.matchAll(/([A-Z0-9-]+)=("[^"]*"|[^,]*)/g)) {
    out[match[1]!] = match[2]!.replace(/^"|"$/g, '');
  }
  return out;
}

interface Variant {
  attributes: Record<string, string>;
  uri: string;
}

function masterVariants(master: string): Variant[] {
  const lines = master.trim().split('\n');
  const variants: Variant[] = [];
  lines.forEach((line, i) => {
    if (line.startsWith('#EXT-X-STREAM-INF:')) {
      variants.push({
        attributes: hlsAttributes(line.slice('#EXT-X-STREAM-INF:'.length)),
        uri: lines[i + 1]!,
      });
    }
  });
  return variants;
}

function segmentDurations(mediaPlaylist: string): number[] {
  return [...mediaPlaylist.matchAll(/^#EXTINF:([\d.]+),/gm)].map((match) => Number(match[1]));
}

/** Attributes of every `<tag .../>` or `<tag ...>` in an XML text. */
function xmlElements(xml: string, tag: string): Record<string, string>[] {
  return [...xml.matchAll(new RegExp(`<${tag}\\s([^>]*?)/?>`, 'g'))].map((match) => {
    const attributes: Record<string, string> = {};
    for (const attribute of match[1]!.matchAll(/([\w:]+)="([^"]*)"/g))
      attributes[attribute[1]!] = attribute[2]!;
    return attributes;
  });
}

function isoSeconds(duration: string): number {
  const match = /^PT(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?$/.exec(duration);
  if (!match) throw new Error(`Not an ISO 8601 duration: ${duration}`);
  return Number(match[1] ?? 0) * 3600 + Number(match[2] ?? 0) * 60 + Number(match[3] ?? 0);
}

/** The RFC 6381 string of the H.264 stream, read from the avcC box of an init segment. */
function avcCodecStringOf(init: Buffer): string {
  const at = init.indexOf('avcC', 0, 'latin1');
  if (at < 0) throw new Error('The init segment has no avcC box');
  const hex = (offset: number) => init[at + offset]!.toString(16).padStart(2, '0');
  // avcC payload: configurationVersion, AVCProfileIndication, profile_compatibility, AVCLevelIndication.
  return `avc1.${hex(5)}${hex(6)}${hex(7)}`;
}

/** ffprobe's streams of a file and its container duration in seconds. */
async function ffprobeFile(file: string): Promise<{ streams: ProbedStream[]; duration: number }> {
  const probed = await ffprobe(file);
  return { streams: probed.streams, duration: Number(probed.format.duration) };
}

/** Fetches a track's init segment and one media segment, and probes them joined as one file. */
async function fetchAndProbeSegment(
  source: string,
  track: string,
  index: number,
  query: string,
): Promise<{ init: Buffer; segment: Buffer; probed: Awaited<ReturnType<typeof ffprobeFile>> }> {
  const init = await get(`/${source}/ik-abs/${track}/init.mp4?${query}`);
  const segment = await get(`/${source}/ik-abs/${track}/seg-${index}.m4s?${query}`);
  expect(init.status, init.text.slice(0, 300)).toBe(200);
  expect(segment.status, segment.text.slice(0, 300)).toBe(200);
  const file = path.join(workDir, `${source}-${track}-${index}-${Date.now()}.mp4`);
  await writeFile(file, Buffer.concat([init.body, segment.body]));
  return { init: init.body, segment: segment.body, probed: await ffprobeFile(file) };
}

beforeAll(async () => {
  workDir = await mkdtemp(path.join(os.tmpdir(), 'ikvp-proxy-abs-'));
  originDir = path.join(workDir, 'origin');
  await run('mkdir', ['-p', originDir]);
  await Promise.all([
    ensureLargeFixture().then((large) => copyFile(large, path.join(originDir, 'large.mp4'))),
    makeFlatSource(path.join(originDir, 'ten-minutes.mp4'), 600),
    makeFlatSource(path.join(originDir, 'ten-seconds.mp4'), 10),
  ]);
  proxy = await startProxy({ ORIGIN: originDir });
});

afterAll(async () => {
  await proxy?.close();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe('manifests for a 1080p source', () => {
  const ladder = 'tr=sr-240_360_480_720_1080_1440';

  test('the HLS master lists every rendition up to the source height and leaves out 1440', async () => {
    const master = await get(`/large.mp4/ik-master.m3u8?${ladder}`);
    expect(master.status, master.text).toBe(200);
    expect(master.headers.get('content-type')).toBe('application/vnd.apple.mpegurl');
    expect(master.text.startsWith('#EXTM3U\n')).toBe(true);
    const variants = masterVariants(master.text);
    expect(variants.map((v) => v.attributes.RESOLUTION)).toEqual([
      '426x240',
      '640x360',
      '854x480',
      '1280x720',
      '1920x1080',
    ]);
    expect(master.text).not.toContain('ik-abs/1440/');
    expect(master.text).not.toContain('x1440');
    for (const variant of variants) {
      // Relative, and carrying the master's query so `tr` and signatures reach every request.
      expect(variant.uri).toMatch(/^ik-abs\/\d+\/index\.m3u8\?tr=sr-240_360_480_720_1080_1440$/);
    }
    expect(master.text).toContain('URI="ik-abs/audio/index.m3u8?tr=sr-240_360_480_720_1080_1440"');
  });

  test('the DASH manifest lists the same renditions with a timeline covering the whole source', async () => {
    const mpd = await get(`/large.mp4/ik-master.mpd?${ladder}`);
    expect(mpd.status, mpd.text).toBe(200);
    expect(mpd.headers.get('content-type')).toBe('application/dash+xml');
    const representations = xmlElements(mpd.text, 'Representation');
    const video = representations.filter((r) => r.id !== 'audio');
    expect(video.map((r) => `${r.width}x${r.height}`)).toEqual([
      '426x240',
      '640x360',
      '854x480',
      '1280x720',
      '1920x1080',
    ]);
    expect(representations.some((r) => r.id === 'audio')).toBe(true);
    const presentation = isoSeconds(xmlElements(mpd.text, 'MPD')[0]!.mediaPresentationDuration!);
    expect(presentation).toBeCloseTo(60, 1);
    const adaptationSets = mpd.text.split('<AdaptationSet').slice(1);
    expect(adaptationSets).toHaveLength(2);
    for (const adaptationSet of adaptationSets) {
      const timescale = Number(xmlElements(adaptationSet, 'SegmentTemplate')[0]!.timescale);
      const entries = xmlElements(adaptationSet, 'S');
      const total = entries.reduce((sum, s) => sum + Number(s.d) * (1 + Number(s.r ?? 0)), 0) / timescale;
      expect(total).toBeCloseTo(60, 1);
    }
  });

  test('a ladder with nothing at or below the source height is a 400 naming the source height', async () => {
    for (const manifest of ['ik-master.m3u8', 'ik-master.mpd']) {
      const answer = await get(`/large.mp4/${manifest}?tr=sr-2160`);
      expect(answer.status).toBe(400);
      expect(answer.headers.get('cache-control')).toBe('no-store');
      expect(answer.text).toContain('1080');
    }
  });

  test.each([
    ['w', 'sr-360,w-300'],
    ['f', 'sr-360,f-webm'],
    ['q', 'sr-360,q-70'],
  ])("'%s' combined with sr is a 400 naming it", async (parameter, tr) => {
    for (const manifest of ['ik-master.m3u8', 'ik-master.mpd']) {
      const answer = await get(`/large.mp4/${manifest}?tr=${tr}`);
      expect(answer.status, answer.text).toBe(400);
      const message = (JSON.parse(answer.text) as { error: { message: string } }).error.message;
      expect(message).toMatch(new RegExp(`'${parameter}'`));
    }
  });

  test('so and du with sr shorten the playlists and the manifest to the window', async () => {
    const full = await get('/large.mp4/ik-abs/360/index.m3u8?tr=sr-360');
    const trimmed = await get('/large.mp4/ik-abs/360/index.m3u8?tr=sr-360,so-10,du-20');
    expect(full.status).toBe(200);
    expect(trimmed.status, trimmed.text).toBe(200);
    const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
    expect(segmentDurations(full.text)).toHaveLength(15);
    expect(sum(segmentDurations(full.text))).toBeCloseTo(60, 2);
    expect(segmentDurations(trimmed.text)).toHaveLength(5);
    expect(sum(segmentDurations(trimmed.text))).toBeCloseTo(20, 2);
    // Segment URLs repeat the canonical spelling of the transformation (one body for every
    // spelling) without the ladder: one URL per rendition segment, whichever ladder lists it.
    expect(trimmed.text).toMatch(/^seg-4\.m4s\?tr=so-10,du-20$/m);
    expect(trimmed.text).not.toContain('seg-5.m4s');

    const mpd = await get('/large.mp4/ik-master.mpd?tr=sr-360,so-10,du-20');
    expect(mpd.status).toBe(200);
    expect(isoSeconds(xmlElements(mpd.text, 'MPD')[0]!.mediaPresentationDuration!)).toBeCloseTo(20, 2);
  });

  test('a trimmed stream starts at so: its first segment decodes to the frames of the untrimmed stream there', async () => {
    // so-8 sits on a segment boundary of the untrimmed stream (8 s = segment 2), so both encodes
    // see exactly the same source frames; x264 is deterministic, so the pictures must match.
    const decodedFrames = async (source: string, track: string, index: number, query: string) => {
      const { init, segment } = await fetchAndProbeSegment(source, track, index, query);
      const file = path.join(workDir, `frames-${query.replace(/\W/g, '_')}-${index}.mp4`);
      await writeFile(file, Buffer.concat([init, segment]));
      const { stdout } = await run(REAL_FFMPEG, [
        '-nostdin',
        '-v',
        'error',
        '-i',
        file,
        '-map',
        '0:v',
        '-f',
        'framemd5',
        '-',
      ]);
      return stdout
        .split('\n')
        .filter((line) => /^\d/.test(line))
        .map((line) => line.split(',').at(-1)!.trim());
    };
    const trimmed = await decodedFrames('large.mp4', '240', 0, 'tr=sr-240,so-8,du-8');
    const untrimmed = await decodedFrames('large.mp4', '240', 2, 'tr=sr-240');
    expect(trimmed).toHaveLength(120);
    expect(trimmed).toEqual(untrimmed);
  });
});

describe('advertised stream properties match the encoded segments', () => {
  const query = 'tr=sr-240_360_480_720_1080';

  test('CODECS, RESOLUTION, FRAME-RATE and BANDWIDTH (HLS) and codecs/width/height/bandwidth (DASH)', async () => {
    const master = await get(`/large.mp4/ik-master.m3u8?${query}`);
    const mpd = await get(`/large.mp4/ik-master.mpd?${query}`);
    expect(master.status).toBe(200);
    expect(mpd.status).toBe(200);
    const variants = masterVariants(master.text);
    const representations = xmlElements(mpd.text, 'Representation');
    expect(variants).toHaveLength(5);

    const audio = await fetchAndProbeSegment('large.mp4', 'audio', 0, query);
    expect(audio.probed.streams).toHaveLength(1);
    const [audioStream] = audio.probed.streams;
    expect(audioStream).toMatchObject({
      codec_name: 'aac',
      profile: 'LC',
      sample_rate: '48000',
      channels: 2,
    });
    const audioRepresentation = representations.find((r) => r.id === 'audio')!;
    expect(audioRepresentation.codecs).toBe('mp4a.40.2');
    expect(audioRepresentation.audioSamplingRate).toBe('48000');
    const audioBits = audio.segment.length * 8;

    for (const variant of variants) {
      const [width, height] = variant.attributes.RESOLUTION!.split('x').map(Number) as [number, number];
      const { init, segment, probed } = await fetchAndProbeSegment('large.mp4', String(height), 0, query);
      expect(probed.streams).toHaveLength(1);
      const [stream] = probed.streams;
      const codecString = avcCodecStringOf(init);
      const label = `${height}p`;
      expect(width, label).toBe(WIDTH_OF_HEIGHT[height]);
      expect(stream!.codec_name, label).toBe('h264');
      expect({ width: stream!.width, height: stream!.height }, label).toEqual({ width, height });
      expect(variant.attributes.CODECS, label).toBe(`${codecString},mp4a.40.2`);
      // The codec string's profile and level bytes are the stream's own.
      expect(stream!.profile, label).toBe('High');
      expect(stream!.level, label).toBe(Number.parseInt(codecString.slice(-2), 16));
      expect(stream!.r_frame_rate, label).toBe('30/1');
      expect(Number(variant.attributes['FRAME-RATE']), label).toBeCloseTo(30, 3);
      expect(probed.duration, label).toBeCloseTo(4, 1);

      // BANDWIDTH is the peak of any segment, video plus audio: this one must fit under it.
      const bitsPerSecond = (segment.length * 8 + audioBits) / 4;
      expect(bitsPerSecond, label).toBeLessThanOrEqual(Number(variant.attributes.BANDWIDTH));
      expect(Number(variant.attributes['AVERAGE-BANDWIDTH']), label).toBeLessThanOrEqual(
        Number(variant.attributes.BANDWIDTH),
      );

      const representation = representations.find((r) => r.id === String(height));
      expect(representation, label).toBeDefined();
      expect(representation!.codecs, label).toBe(codecString);
      expect({ width: Number(representation!.width), height: Number(representation!.height) }, label).toEqual(
        {
          width,
          height,
        },
      );
      expect((segment.length * 8) / 4, label).toBeLessThanOrEqual(Number(representation!.bandwidth));
    }
  }, 120_000);

  test('segments and manifests are readable from pages on other origins (CORS)', async () => {
    for (const resource of [
      'ik-master.m3u8',
      'ik-master.mpd',
      'ik-abs/360/index.m3u8',
      'ik-abs/360/init.mp4',
    ]) {
      const answer = await get(`/large.mp4/${resource}?tr=sr-360`);
      expect(answer.status, resource).toBe(200);
      expect(answer.headers.get('access-control-allow-origin'), resource).toBe('*');
      expect(answer.headers.get('access-control-expose-headers') ?? '', resource).toMatch(/content-range/i);
    }
  });
});

describe('clients and caching', () => {
  test('ffmpeg reads 20 s of the HLS stream over HTTP with continuous timestamps', async () => {
    const out = path.join(workDir, 'copied.mp4');
    // Debug level: ffmpeg reports timestamp discontinuities only there.
    const { stderr } = await run(REAL_FFMPEG, [
      ...['-nostdin', '-loglevel', 'debug', '-y'],
      ...['-i', `${proxy.url}/large.mp4/ik-master.m3u8?tr=sr-360`],
      ...['-t', '20', '-c', 'copy', out],
    ]);
    const timestampTrouble = stderr
      .split('\n')
      .filter((line) => /non-monotonous|discontinuity|invalid dropping|Invalid timestamps/i.test(line));
    expect(timestampTrouble).toEqual([]);
    const probed = await ffprobeFile(out);
    expect(probed.streams.map((s) => s.codec_name).sort()).toEqual(['aac', 'h264']);
    expect(probed.streams.find((s) => s.codec_name === 'h264')).toMatchObject({ width: 640, height: 360 });
    expect(probed.duration).toBeGreaterThan(19.5);
    expect(probed.duration).toBeLessThan(20.5);
  }, 90_000);

  test('the same segment asked twice is encoded once: the second answer is a cache hit with the same bytes', async () => {
    const url = '/large.mp4/ik-abs/240/seg-11.m4s?tr=sr-240_720';
    const first = await get(url);
    const second = await get(url);
    expect(first.status).toBe(200);
    expect(first.headers.get('x-cache')).toBe('MISS');
    expect(first.headers.get('content-type')).toBe('video/mp4');
    expect(second.status).toBe(200);
    expect(second.headers.get('x-cache')).toMatch(/^HIT-/);
    expect(second.headers.get('etag')).toBe(first.headers.get('etag'));
    expect(second.body.equals(first.body)).toBe(true);
    // Segments are shared by every ladder that contains the rendition.
    const otherLadder = await get('/large.mp4/ik-abs/240/seg-11.m4s?tr=sr-240_360');
    expect(otherLadder.headers.get('x-cache')).toMatch(/^HIT-/);
    expect(otherLadder.body.equals(first.body)).toBe(true);
  });

  test('an init segment made by a later segment encode on another node is byte-identical to the first one', async () => {
    // A second proxy with its own empty cache stands in for another node: asked for segment 5
    // first, it derives the init from that encode; players mix both nodes' answers.
    const otherNode = await startProxy({ ORIGIN: originDir });
    try {
      for (const track of ['360', 'audio']) {
        const query = 'tr=sr-360';
        const fromLaterSegment = await fetch(`${otherNode.url}/large.mp4/ik-abs/${track}/seg-5.m4s?${query}`);
        expect(fromLaterSegment.status, track).toBe(200);
        await fromLaterSegment.arrayBuffer();
        const otherInit = await fetch(`${otherNode.url}/large.mp4/ik-abs/${track}/init.mp4?${query}`);
        expect(otherInit.headers.get('x-cache'), track).toMatch(/^HIT-/);
        const firstInit = await get(`/large.mp4/ik-abs/${track}/init.mp4?${query}`);
        expect(firstInit.status, track).toBe(200);
        expect(Buffer.from(await otherInit.arrayBuffer()).equals(firstInit.body), track).toBe(true);
      }
    } finally {
      await otherNode.close();
    }
  });

  test('a 10-minute source answers its playlists as fast as a 10-second one', async () => {
    const long = await get('/ten-minutes.mp4/ik-master.m3u8?tr=sr-240');
    const short = await get('/ten-seconds.mp4/ik-master.m3u8?tr=sr-240');
    expect(long.status, long.text).toBe(200);
    expect(short.status, short.text).toBe(200);
    // Both are cold (probe included); neither may wait for an encode.
    expect(long.ms).toBeLessThan(2000);
    expect(short.ms).toBeLessThan(2000);
    const longMedia = await get('/ten-minutes.mp4/ik-abs/240/index.m3u8?tr=sr-240');
    expect(longMedia.status).toBe(200);
    expect(longMedia.ms).toBeLessThan(2000);
    const durations = segmentDurations(longMedia.text);
    expect(durations).toHaveLength(150);
    expect(longMedia.text).toMatch(/^seg-149\.m4s$/m);
    expect(durations.reduce((a, b) => a + b, 0)).toBeCloseTo(600, 1);
    const shortMedia = await get('/ten-seconds.mp4/ik-abs/240/index.m3u8?tr=sr-240');
    expect(segmentDurations(shortMedia.text)).toHaveLength(3);
  });
});
