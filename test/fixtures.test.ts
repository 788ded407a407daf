import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  decodeErrors,
  displayRotation,
  ffprobe,
  ffprobeCsv,
  type ProbedStream,
  type ProbeResult,
} from './support/ffprobe.js';
import {
  ensureLargeFixture,
  FIXTURES_DIR,
  type FixtureEntry,
  fixturePath,
  fixturesWhere,
  LARGE_FIXTURE,
  loadManifest,
  makeOnce,
  topLevelBoxTypes,
} from './support/fixtures.js';
import { pixelAt, rawFirstFrame } from './support/pixels.js';

function fraction(text: string | undefined): number {
  const [numerator, denominator] = (text ?? '0/0').split('/').map(Number);
  return denominator ? numerator! / denominator : Number.NaN;
}

/** Duration from the container, or (for elementary streams with no header) from the packet count. */
async function measuredDuration(entry: FixtureEntry, probed: ProbeResult): Promise<number> {
  const fromFormat = Number(probed.format.duration);
  if (Number.isFinite(fromFormat)) return fromFormat;
  const [[packets] = []] = await ffprobeCsv(fixturePath(entry.name), 'stream=nb_read_packets', {
    select: 'v:0',
    args: ['-count_packets'],
  });
  return Number(packets) / entry.frameRate!;
}

async function videoPacketTimes(file: string): Promise<number[]> {
  return (await ffprobeCsv(file, 'packet=pts_time', { select: 'v:0' }))
    .map(([time]) => Number.parseFloat(time ?? ''))
    .filter((time) => Number.isFinite(time))
    .sort((a, b) => a - b);
}

const manifest = loadManifest();
const mediaEntries = manifest.filter((entry) => entry.kind !== 'hostile');

describe('fixtures/manifest.json', () => {
  test('lists every file in fixtures/ exactly once, and nothing that is not there', async () => {
    const onDisk = (await readdir(FIXTURES_DIR, { withFileTypes: true }))
      .filter((item) => item.isFile() && !item.name.startsWith('.') && item.name !== 'manifest.json')
      .map((item) => item.name)
      .sort();
    const listed = manifest.map((entry) => entry.name).sort();
    expect(new Set(listed).size).toBe(listed.length);
    expect(listed).toEqual(onDisk);
  });

  // The seed's table of inputs that must work (design.md section 1).
  const requiredInputs: Array<{ extension: string; videoCodec: string | null; audioCodec: string | null }> = [
    { extension: '.mp4', videoCodec: 'h264', audioCodec: 'aac' },
    { extension: '.mp4', videoCodec: 'mpeg4', audioCodec: 'aac' },
    { extension: '.mp4', videoCodec: 'hevc', audioCodec: 'aac' },
    { extension: '.mp4', videoCodec: 'av1', audioCodec: 'opus' },
    { extension: '.mov', videoCodec: 'mpeg4', audioCodec: 'aac' },
    { extension: '.mov', videoCodec: 'h264', audioCodec: 'aac' },
    { extension: '.webm', videoCodec: 'vp8', audioCodec: 'opus' },
    { extension: '.webm', videoCodec: 'vp9', audioCodec: 'opus' },
    { extension: '.webm', videoCodec: 'av1', audioCodec: 'opus' },
    { extension: '.mpg', videoCodec: 'mpeg1video', audioCodec: 'mp2' },
    { extension: '.mpg', videoCodec: 'mpeg2video', audioCodec: 'mp2' },
    { extension: '.3gp', videoCodec: 'h263', audioCodec: 'aac' },
    { extension: '.ogg', videoCodec: 'theora', audioCodec: 'vorbis' },
    { extension: '.ogv', videoCodec: 'theora', audioCodec: 'vorbis' },
    { extension: '.hevc', videoCodec: 'hevc', audioCodec: null },
    { extension: '.mts', videoCodec: 'mpeg2video', audioCodec: 'mp2' },
    { extension: '.m4a', videoCodec: null, audioCodec: 'aac' },
  ];
  test.each(requiredInputs)('covers $extension with $videoCodec / $audioCodec', (required) => {
    const matches = mediaEntries.filter(
      (entry) =>
        path.extname(entry.name) === required.extension &&
        entry.videoCodec === required.videoCodec &&
        entry.audioCodec === required.audioCodec,
    );
    expect(matches.length).toBeGreaterThan(0);
  });

  test.each([
    'faststart',
    'moov-at-end',
    'rotated',
    'portrait',
    'odd-dimensions',
    'no-audio',
    'vfr',
    'audio-only',
  ] as const)('has a fixture with the %s trait', (trait) => {
    expect(fixturesWhere({ trait }).length).toBeGreaterThan(0);
  });

  test('has a true portrait clip besides the rotated one', () => {
    const unrotatedPortrait = fixturesWhere({ trait: 'portrait' }).filter((entry) => entry.rotation === 0);
    expect(unrotatedPortrait.length).toBeGreaterThan(0);
  });

  test('has every hostile case', () => {
    const cases = fixturesWhere({ kind: 'hostile' }).map((entry) => entry.hostile);
    expect(cases.sort()).toEqual(['empty', 'playlist', 'random', 'text', 'truncated']);
  });

  test('keeps the committed fixtures small', async () => {
    const sizes = await Promise.all(
      manifest.map(async (entry) => (await stat(fixturePath(entry.name))).size),
    );
    const total = sizes.reduce((sum, size) => sum + size, 0);
    expect(total).toBeLessThan(6 * 1024 * 1024);
  });

  test('fixturePath refuses names the manifest does not list', () => {
    expect(() => fixturePath('../package.json')).toThrow(/No fixture named/);
  });
});

describe.each(mediaEntries)('$name', (entry) => {
  const file = path.join(FIXTURES_DIR, entry.name);
  let probed: ProbeResult;
  let video: ProbedStream | undefined;
  let audio: ProbedStream | undefined;

  beforeAll(async () => {
    probed = await ffprobe(file);
    video = probed.streams.find((stream) => stream.codec_type === 'video');
    audio = probed.streams.find((stream) => stream.codec_type === 'audio');
  });

  test('container and codecs match the manifest', () => {
    expect(probed.format.format_name).toBe(entry.formatName);
    expect(video?.codec_name ?? null).toBe(entry.videoCodec);
    expect(audio?.codec_name ?? null).toBe(entry.audioCodec);
    expect(audio !== undefined).toBe(entry.hasAudio);
    expect(video !== undefined).toBe(entry.hasVideo);
  });

  test('coded size, rotation and display size match the manifest', () => {
    if (!entry.hasVideo) {
      expect(video).toBeUndefined();
      return;
    }
    const rotation = displayRotation(video!);
    const quarterTurn = rotation === 90 || rotation === 270;
    expect({ width: video!.width, height: video!.height }).toEqual({
      width: entry.codedWidth,
      height: entry.codedHeight,
    });
    expect(rotation).toBe(entry.rotation);
    expect({
      width: quarterTurn ? video!.height : video!.width,
      height: quarterTurn ? video!.width : video!.height,
    }).toEqual({ width: entry.width, height: entry.height });
  });

  test('duration and frame rate match the manifest', async () => {
    const duration = await measuredDuration(entry, probed);
    expect(Math.abs(duration - entry.duration!)).toBeLessThanOrEqual(Math.max(0.3, entry.duration! * 0.1));
    if (entry.frameRate !== null) {
      // Ogg may leave avg_frame_rate at 0/0 (ffprobe does not scan far enough); r_frame_rate then holds it.
      const average = fraction(video!.avg_frame_rate);
      const frameRate = average > 0 ? average : fraction(video!.r_frame_rate);
      expect(frameRate).toBeCloseTo(entry.frameRate, 1);
    }
  });

  test('decodes from start to end without errors', async () => {
    expect(await decodeErrors(file)).toBe('');
  });

  test('has the traits the manifest claims', async () => {
    for (const trait of entry.traits) {
      switch (trait) {
        case 'faststart':
        case 'moov-at-end': {
          const boxes = await topLevelBoxTypes(file);
          const moovFirst = boxes.indexOf('moov') < boxes.indexOf('mdat');
          expect(boxes).toContain('moov');
          expect(moovFirst).toBe(trait === 'faststart');
          break;
        }
        case 'portrait':
          expect(entry.height!).toBeGreaterThan(entry.width!);
          break;
        case 'odd-dimensions':
          expect(entry.width! % 2 === 1 || entry.height! % 2 === 1).toBe(true);
          break;
        case 'no-audio':
          expect(audio).toBeUndefined();
          break;
        case 'audio-only':
          expect(video).toBeUndefined();
          expect(audio).toBeDefined();
          break;
        case 'rotated':
          expect(entry.rotation).not.toBe(0);
          break;
        case 'elementary-stream':
          expect(probed.format.duration).toBeUndefined();
          break;
        case 'vfr': {
          const times = await videoPacketTimes(file);
          const gaps = new Set(
            times.slice(1).map((time, index) => Math.round((time - times[index]!) * 1000)),
          );
          expect(gaps.size).toBeGreaterThan(1);
          expect(fraction(video!.avg_frame_rate)).not.toBeCloseTo(fraction(video!.r_frame_rate), 0);
          break;
        }
        default:
          throw new Error(`the test does not know how to check trait '${trait satisfies never}'`);
      }
    }
  });
});

describe('rotated-phone.mp4 shown upright', () => {
  test('decodes (with autorotation) to portrait with the coded top-left marker at the top right', async () => {
    const entry = fixturesWhere({ trait: 'rotated' })[0]!;
    const data = await rawFirstFrame(fixturePath(entry.name));
    const width = entry.width!;
    expect(data.length).toBe(width * entry.height! * 3);
    const pixel = (x: number, y: number) =>
      pixelAt({ data, width, height: entry.height!, channels: 3 }, x, y);
    const isRed = ([red, green, blue]: number[]) => red! > 200 && green! < 60 && blue! < 60;
    const isBlue = ([red, green, blue]: number[]) => blue! > 200 && red! < 60 && green! < 60;
    expect(isRed(pixel(width - 100, 100))).toBe(true);
    expect(isBlue(pixel(100, 100))).toBe(true);
  });
});

describe('hostile fixtures', () => {
  const byCase = (hostile: string) =>
    fixturesWhere({ kind: 'hostile' }).find((entry) => entry.hostile === hostile)!;

  test.each(['text', 'empty', 'random', 'playlist'])(
    '%s is not an MP4 even when the demuxer is forced',
    async (hostile) => {
      // Forcing the demuxer keeps ffprobe from opening the playlist as HLS while we check it.
      await expect(ffprobe(fixturePath(byCase(hostile).name), ['-f', 'mov'])).rejects.toThrow();
    },
  );

  test('text is plain UTF-8 without NUL bytes', async () => {
    const bytes = await readFile(fixturePath(byCase('text').name));
    expect(bytes.length).toBeGreaterThan(0);
    expect(bytes.includes(0)).toBe(false);
    expect(Buffer.from(bytes.toString('utf8'), 'utf8').equals(bytes)).toBe(true);
  });

  test('empty has zero bytes', async () => {
    expect((await stat(fixturePath(byCase('empty').name))).size).toBe(0);
  });

  test('random looks random: 64 KiB using nearly every byte value', async () => {
    const bytes = await readFile(fixturePath(byCase('random').name));
    expect(bytes.length).toBe(64 * 1024);
    expect(new Set(bytes).size).toBeGreaterThan(250);
  });

  test('truncated is the first half of sample.mp4', async () => {
    const [sample, truncated] = await Promise.all([
      readFile(fixturePath('sample.mp4')),
      readFile(fixturePath(byCase('truncated').name)),
    ]);
    expect(truncated.length).toBe(Math.floor(sample.length / 2));
    expect(sample.subarray(0, truncated.length).equals(truncated)).toBe(true);
  });

  test('playlist is an HLS playlist pointing at a local file and a loopback canary', async () => {
    const text = await readFile(fixturePath(byCase('playlist').name), 'utf8');
    expect(text.startsWith('#EXTM3U\n')).toBe(true);
    expect(text).toContain('\nfile:///etc/passwd\n');
    expect(text).toContain('\nhttp://127.0.0.1:1/canary\n');
  });
});

describe('makeOnce', () => {
  let directory: string;
  beforeAll(async () => {
    directory = await mkdtemp(path.join(os.tmpdir(), 'make-once-'));
  });
  afterAll(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  test('concurrent callers produce the file once and all get it', async () => {
    const target = path.join(directory, 'once.bin');
    let productions = 0;
    const produce = async (temporaryPath: string) => {
      productions += 1;
      await new Promise((resolve) => setTimeout(resolve, 100));
      await writeFile(temporaryPath, 'made');
    };
    const results = await Promise.all(
      Array.from({ length: 4 }, () => makeOnce(target, produce, { pollMs: 20, waitTimeoutMs: 10_000 })),
    );
    expect(results).toEqual([target, target, target, target]);
    expect(productions).toBe(1);
    expect(await readFile(target, 'utf8')).toBe('made');
    expect((await readdir(directory)).sort()).toEqual(['once.bin']);
  });

  test('takes over a lock whose owner is dead', async () => {
    const target = path.join(directory, 'orphan.bin');
    // PIDs are at most 2^22 on Linux, so this one cannot be alive.
    await writeFile(`${target}.lock`, String(2 ** 22 + 1));
    await makeOnce(target, (temporaryPath) => writeFile(temporaryPath, 'ok'), {
      pollMs: 20,
      waitTimeoutMs: 5_000,
    });
    expect(await readFile(target, 'utf8')).toBe('ok');
  });

  test('does not publish an undersized result, and frees the lock', async () => {
    const target = path.join(directory, 'small.bin');
    await expect(
      makeOnce(target, (temporaryPath) => writeFile(temporaryPath, 'x'), {
        minBytes: 10,
        waitTimeoutMs: 5_000,
      }),
    ).rejects.toThrow(/expected at least 10/);
    const left = await readdir(directory);
    expect(left.filter((name) => name.startsWith('small.bin') || name.includes('small.bin.'))).toEqual([]);
  });
});

describe('ensureLargeFixture', () => {
  test('makes (or reuses) a >= 20 MB faststart 1080p H.264/AAC mp4 of about 60 s', async () => {
    const [first, second] = await Promise.all([ensureLargeFixture(), ensureLargeFixture()]);
    expect(second).toBe(first);
    expect((await stat(first)).size).toBeGreaterThanOrEqual(LARGE_FIXTURE.minBytes);
    const boxes = await topLevelBoxTypes(first);
    expect(boxes.indexOf('moov')).toBeGreaterThanOrEqual(0);
    expect(boxes.indexOf('moov')).toBeLessThan(boxes.indexOf('mdat'));
    const probed = await ffprobe(first);
    const video = probed.streams.find((stream) => stream.codec_type === 'video');
    const audio = probed.streams.find((stream) => stream.codec_type === 'audio');
    expect(video).toMatchObject({
      codec_name: 'h264',
      width: LARGE_FIXTURE.width,
      height: LARGE_FIXTURE.height,
    });
    expect(audio?.codec_name).toBe('aac');
    expect(Number(probed.format.duration)).toBeCloseTo(LARGE_FIXTURE.duration, 0);
  }, 180_000);
});
