import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { absSegmentArgs } from '../../src/abs/argv.js';
import { splitInitAndMedia } from '../../src/abs/fmp4.js';
import {
  type AbsPlan,
  AUDIO_TRACK_HEIGHT,
  dashManifest,
  hlsMasterPlaylist,
  hlsMediaPlaylist,
  planAbs,
  segmentWindow,
  trackPathName,
} from '../../src/abs/index.js';
import { ffprobeCsv, ffprobeJson, probeMediaInfo } from '../support/ffprobe.js';
import { readCodecString, readFragments, readTimescale } from '../support/fmp4.js';
import { FFMPEG, makeSource, run, runSteps, serveFile } from './support.js';

/**
 * End to end with real ffmpeg: every segment of every track is encoded independently and out of
 * order through the exported argv, laid out as the proxy serves them (query strings dropped), and
 * then read back by ffmpeg's HLS demuxer, ffprobe and an AAC decoder.
 */

interface Encoded {
  plan: AbsPlan;
  dir: string;
  /** Init segment produced by each segment's encode, per track. */
  inits: Map<number, Buffer[]>;
}

/** Encodes all segments of all tracks (in reverse order, two at a time) and writes the layout. */
async function encodeAll(source: string, dir: string, plan: AbsPlan): Promise<Encoded> {
  const server = await serveFile(source);
  const tracks = [...plan.renditions.map((r) => r.height), ...(plan.audio ? [AUDIO_TRACK_HEIGHT] : [])];
  const jobs = tracks
    .flatMap((height) => Array.from({ length: plan.segmentCount }, (_, index) => ({ height, index })))
    .reverse();
  const inits = new Map<number, Buffer[]>();
  try {
    const worker = async () => {
      for (let job = jobs.shift(); job; job = jobs.shift()) {
        const out = await runSteps(absSegmentArgs(server.input, plan, job.height, job.index).steps);
        const { init, media } = splitInitAndMedia(out);
        const trackDir = path.join(dir, 'ik-abs', trackPathName(job.height));
        mkdirSync(trackDir, { recursive: true });
        writeFileSync(path.join(trackDir, `seg-${job.index}.m4s`), media);
        const list = inits.get(job.height) ?? [];
        list[job.index] = init;
        inits.set(job.height, list);
      }
    };
    await Promise.all([worker(), worker()]);
  } finally {
    await server.close();
  }
  for (const height of tracks) {
    const trackDir = path.join(dir, 'ik-abs', trackPathName(height));
    // Deliberately the init of the LAST segment: any encode's init must serve every segment.
    writeFileSync(path.join(trackDir, 'init.mp4'), inits.get(height)!.at(-1)!);
    writeFileSync(path.join(trackDir, 'index.m3u8'), hlsMediaPlaylist(plan, height, '').replaceAll('?', ''));
  }
  writeFileSync(path.join(dir, 'master.m3u8'), hlsMasterPlaylist(plan, ''));
  writeFileSync(path.join(dir, 'manifest.mpd'), dashManifest(plan, ''));
  return { plan, dir, inits };
}

function trackFile(dir: string, height: number, name: string): string {
  return path.join(dir, 'ik-abs', trackPathName(height), name);
}

/** init + every media segment of a track, concatenated: a playable fragmented MP4. */
function concatTrack(e: Encoded, height: number, initIndex = 0): string {
  const parts = [e.inits.get(height)![initIndex]!];
  for (let i = 0; i < e.plan.segmentCount; i++)
    parts.push(readFileSync(trackFile(e.dir, height, `seg-${i}.m4s`)));
  const file = path.join(e.dir, `track-${height}-init${initIndex}.mp4`);
  writeFileSync(file, Buffer.concat(parts));
  return file;
}

async function streamDurations(file: string): Promise<Record<string, number>> {
  const { streams } = await ffprobeJson<{
    streams: Array<{ codec_type: string; duration?: string; nb_read_frames?: string }>;
  }>(file, ['-count_frames', '-show_entries', 'stream=codec_type,duration,nb_read_frames']);
  const out: Record<string, number> = {};
  for (const s of streams) {
    out[`${s.codec_type}Duration`] = Number(s.duration);
    out[`${s.codec_type}Frames`] = Number(s.nb_read_frames);
  }
  return out;
}

/** Largest |x[n+1] - x[n]| in [from, to). */
function maxStep(samples: Float32Array, from: number, to: number): number {
  let max = 0;
  for (let n = Math.max(1, from); n < Math.min(samples.length, to); n++)
    max = Math.max(max, Math.abs(samples[n]! - samples[n - 1]!));
  return max;
}

/** Decodes a file's audio to mono 48 kHz float PCM. */
function decodePcm(file: string): Float32Array {
  const { stdout } = run(FFMPEG, [
    '-v',
    'error',
    '-i',
    file,
    '-map',
    '0:a:0',
    '-ac',
    '1',
    '-f',
    'f32le',
    '-acodec',
    'pcm_f32le',
    'pipe:1',
  ]);
  return new Float32Array(stdout.buffer, stdout.byteOffset, stdout.byteLength / 4);
}

/**
 * The worst sample-to-sample step within 200 samples of any join, relative to the largest step a
 * sine of this amplitude and frequency can make (2*pi*f/sr*A).
 */
function joinStepRatio(pcm: Float32Array, joins: number[], toneHz: number): number {
  let amplitude = 0;
  for (const x of pcm.subarray(pcm.length >> 2, (pcm.length * 3) >> 2))
    amplitude = Math.max(amplitude, Math.abs(x));
  const sineStep = 2 * Math.PI * (toneHz / 48_000) * amplitude;
  return Math.max(...joins.map((j) => maxStep(pcm, j - 200, j + 200))) / sineStep;
}

describe('adaptive streaming, 1280x720 29.97 fps source with a 440 Hz tone', () => {
  let work: string;
  let e: Encoded;
  const toneHz = 440;

  beforeAll(async () => {
    work = mkdtempSync(path.join(tmpdir(), 'abs-test-'));
    const source = path.join(work, 'source.mp4');
    makeSource(source, { width: 1280, height: 720, rate: '30000/1001', seconds: 14, toneHz });
    const plan = planAbs({ sr: [240, 360] }, await probeMediaInfo(source), 4);
    e = await encodeAll(source, path.join(work, 'out'), plan);
  }, 120_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test('the plan cuts 420 frames into 120-frame segments and 4 audio segments on the AAC grid', () => {
    expect(e.plan.video.totalFrames).toBe(420);
    expect(e.plan.segmentCount).toBe(4);
    expect(e.plan.audio!.boundaries.every((b) => b % 1024 === 0)).toBe(true);
  });

  test('ffmpeg reads the master playlist end to end without timestamp errors, durations match the window', async () => {
    const out = path.join(e.dir, 'copy.mp4');
    const { stderr } = run(FFMPEG, [
      '-v',
      'warning',
      '-y',
      '-i',
      path.join(e.dir, 'master.m3u8'),
      '-map',
      '0',
      '-c',
      'copy',
      '-f',
      'mp4',
      out,
    ]);
    expect(stderr).not.toMatch(/Non-monoton|discontinuity|Invalid|corrupt/i);
    const d = await streamDurations(out);
    const frame = 1001 / 30_000;
    expect(d.videoFrames).toBe(e.plan.video.totalFrames);
    expect(Math.abs(d.videoDuration! - 14.014)).toBeLessThanOrEqual(frame);
    expect(Math.abs(d.audioDuration! - 14.014)).toBeLessThanOrEqual(0.05);
  });

  test('every segment starts with a keyframe, its tfdt is the playlist start and it has the planned sample count', async () => {
    for (const height of [240, 360, AUDIO_TRACK_HEIGHT]) {
      for (let i = 0; i < e.plan.segmentCount; i++) {
        const media = readFileSync(trackFile(e.dir, height, `seg-${i}.m4s`));
        const window = segmentWindow(e.plan, height, i);
        const fragments = readFragments(media);
        expect(fragments[0]!.baseMediaDecodeTime, `track ${height} segment ${i}`).toBe(window.startTicks);
        const samples = fragments.reduce((sum, f) => sum + f.sampleCount, 0);
        expect(samples).toBe(height === AUDIO_TRACK_HEIGHT ? window.count / 1024 : window.count);
        expect(fragments.reduce((sum, f) => sum + (f.duration ?? 0), 0)).toBe(window.durationTicks);
        if (height !== AUDIO_TRACK_HEIGHT) {
          const file = path.join(e.dir, `probe-${height}-${i}.mp4`);
          writeFileSync(file, Buffer.concat([e.inits.get(height)![i]!, media]));
          const frames = (await ffprobeCsv(file, 'frame=key_frame,pict_type', { select: 'v:0' })).map((row) =>
            row.join(','),
          );
          expect(frames[0]).toMatch(/^1,I\b/);
          expect(
            frames.slice(1).filter((f) => !f.startsWith('0,')),
            `segment ${i}`,
          ).toEqual([]);
          expect(frames).toHaveLength(window.count);
        }
      }
    }
  });

  test("init segments from different segments' encodes are byte-identical, and codecs match the playlists", async () => {
    for (const [height, inits] of e.inits) {
      for (const init of inits) expect(init.equals(inits[0]!)).toBe(true);
      const expected =
        height === AUDIO_TRACK_HEIGHT
          ? e.plan.audio!.codecs
          : e.plan.renditions.find((r) => r.height === height)!.codecs;
      expect(readCodecString(inits[0]!)).toBe(expected);
      expect(readTimescale(inits[0]!)).toBe(height === AUDIO_TRACK_HEIGHT ? 48_000 : e.plan.video.timescale);
      expect(hlsMasterPlaylist(e.plan, '')).toContain(expected);
    }
    const { streams } = await ffprobeJson<{ streams: unknown[] }>(concatTrack(e, 360), [
      '-show_entries',
      'stream=width,height,profile,level',
    ]);
    const stream = streams[0];
    const rendition = e.plan.renditions.find((r) => r.height === 360)!;
    expect(stream).toMatchObject({
      width: rendition.width,
      height: 360,
      profile: 'High',
      level: Number(rendition.level) * 10,
    });
  });

  test('the audio track decodes to the planned sample count with no jump at any join', () => {
    const boundaries = e.plan.audio!.boundaries;
    // Decoding with the init of segment 3's encode proves that init serves every segment.
    const pcm = decodePcm(concatTrack(e, AUDIO_TRACK_HEIGHT, 3));
    expect(Math.abs(pcm.length - boundaries.at(-1)!)).toBeLessThanOrEqual(1024);
    const joins = boundaries.slice(1, -1);
    expect(joinStepRatio(pcm, joins, toneHz)).toBeLessThan(1.3);
    // The detector is sensitive: removing 24 samples (0.5 ms) at one join is caught.
    const join = joins[1]!;
    const shifted = new Float32Array(pcm.length - 24);
    shifted.set(pcm.subarray(0, join));
    shifted.set(pcm.subarray(join + 24), join);
    expect(joinStepRatio(shifted, [join], toneHz)).toBeGreaterThan(1.3);
  });
});

describe('adaptive streaming, 23.976 fps source with 44.1 kHz audio, trimmed with so/du', () => {
  let work: string;
  let e: Encoded;

  beforeAll(async () => {
    work = mkdtempSync(path.join(tmpdir(), 'abs-test-'));
    const source = path.join(work, 'source.mp4');
    makeSource(source, {
      width: 426,
      height: 240,
      rate: '24000/1001',
      seconds: 12,
      toneHz: 300,
      audioRate: 44_100,
    });
    const plan = planAbs(
      { sr: [240], so: { kind: 'seconds', value: 1.5 }, du: { kind: 'seconds', value: 9 } },
      await probeMediaInfo(source),
      4,
    );
    e = await encodeAll(source, path.join(work, 'out'), plan);
  }, 120_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test('no segment is a frame short: the concatenation has exactly the listed frames', async () => {
    expect(e.plan.video.frameRate).toEqual({ num: 24_000, den: 1001 });
    expect(e.plan.video.timescale).toBe(24_000);
    expect(e.plan.video.framesPerSegment).toBe(96);
    const d = await streamDurations(concatTrack(e, 240));
    expect(d.videoFrames).toBe(e.plan.video.totalFrames);
    expect(e.plan.video.totalFrames).toBe(Math.ceil(9 * (24_000 / 1001)));
    const out = path.join(e.dir, 'copy.mp4');
    const { stderr } = run(FFMPEG, [
      '-v',
      'warning',
      '-y',
      '-i',
      path.join(e.dir, 'master.m3u8'),
      '-map',
      '0',
      '-c',
      'copy',
      '-f',
      'mp4',
      out,
    ]);
    expect(stderr).not.toMatch(/Non-monoton|discontinuity/i);
  });

  test('audio resampled from 44.1 kHz still joins cleanly', () => {
    const boundaries = e.plan.audio!.boundaries;
    const pcm = decodePcm(concatTrack(e, AUDIO_TRACK_HEIGHT));
    expect(Math.abs(pcm.length - boundaries.at(-1)!)).toBeLessThanOrEqual(1024);
    expect(joinStepRatio(pcm, boundaries.slice(1, -1), 300)).toBeLessThan(1.3);
  });
});
