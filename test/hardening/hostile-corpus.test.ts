import { readFile } from 'node:fs/promises';
import { describe, expect, test } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { ProxyError, UnprocessableError, UnsupportedMediaError } from '../../src/errors.js';
import { locateMoov, parseMoov } from '../../src/media/isobmff.js';
import { type ProbeJson, parseProbeOutput } from '../../src/media/probe.js';
import type { MediaInfo } from '../../src/media/types.js';
import { checkSourceLimits, type PlanLimits } from '../../src/plan/index.js';
import { ffprobe } from '../support/ffprobe.js';
import { ensureHostileCorpus, type HostileCorpusEntry, timedRead } from '../support/hostile.js';

/**
 * The hostile MP4 corpus (scripts/make-fixtures.mjs --hostile) through the in-process index
 * parser, ffprobe and the default limits. For every file the parser answers "not readable here"
 * (undefined, so the proxy asks ffprobe), a typed error, or exactly the absurd facts the file
 * declares as finite numbers, so the limits refuse it with 422 before any ffprobe or ffmpeg
 * starts. ffprobe's own view is checked too, so the manifest's expectations stay true.
 */

const corpus = await ensureHostileCorpus();

const config = loadConfig({});
const DEFAULT_LIMITS: PlanLimits = {
  maxOutputPixels: config.maxOutputPixels,
  maxSourceDuration: config.maxSourceDuration,
  maxSourcePixels: config.maxSourcePixels,
  maxSourceStreams: config.maxSourceStreams,
};

type Outcome = { kind: 'undefined' } | { kind: 'error'; error: unknown } | { kind: 'facts'; info: MediaInfo };

/**
 * What the render path's index read does with a file: `locateMoov` over the head and then 64-byte
 * reads (at most 8 hops, as in src/render/service.ts), then `parseMoov` on the moov it found.
 */
function readIndex(file: Buffer): Outcome {
  try {
    let found = locateMoov(file.subarray(0, 64 * 1024), 0, file.length);
    for (let hops = 0; found && 'next' in found && hops < 8; hops++) {
      if (found.next + 8 > file.length) return { kind: 'undefined' };
      found = locateMoov(file.subarray(found.next, found.next + 64), found.next, file.length);
    }
    if (!found || !('moov' in found)) return { kind: 'undefined' };
    const moov = file.subarray(found.moov.offset, found.moov.offset + found.moov.size);
    const info = parseMoov(moov, file.length);
    return info ? { kind: 'facts', info } : { kind: 'undefined' };
  } catch (error) {
    return { kind: 'error', error };
  }
}

/** ffprobe's view of a file, or undefined when ffprobe refuses it. */
function ffprobeOrUndefined(file: string): Promise<ProbeJson | undefined> {
  return ffprobe<ProbeJson>(file).catch(() => undefined);
}

/** The status code the limits give `info`, or `accepted`. */
function limitVerdict(info: MediaInfo): string {
  try {
    checkSourceLimits(info, DEFAULT_LIMITS);
    return 'accepted';
  } catch (error) {
    expect(error).toBeInstanceOf(UnprocessableError);
    return (error as ProxyError).code;
  }
}

describe('the hostile MP4 corpus', () => {
  test('covers every absurd value the design names', () => {
    const names = corpus.map((entry) => entry.name);
    expect(names).toEqual(
      expect.arrayContaining([
        'duration-10h.mp4',
        'duration-1e6-segments.mp4',
        'duration-2p32.mp4',
        'claims-8000x8000.mp4',
        'claims-65535x65535.mp4',
        'trak-size-past-eof.mp4',
        'stsz-count-2p32.mp4',
        'largesize-2p63-mdat.mp4',
        'real-8k-1frame.mp4',
      ]),
    );
  });

  test.each(corpus.map((entry) => [entry.name, entry] as [string, HostileCorpusEntry]))(
    '%s: the parser reports the declared facts or nothing, ffprobe agrees with the manifest, the verdict holds',
    async (_name, entry) => {
      const file = await readFile(entry.path);
      const { value: ours, ms } = timedRead(() => readIndex(file), 50);
      expect(ms, 'index read time (ms)').toBeLessThan(50);

      if (ours.kind === 'error') {
        expect(ours.error).toBeInstanceOf(ProxyError);
        expect(
          ours.error instanceof UnsupportedMediaError || ours.error instanceof UnprocessableError,
          String(ours.error),
        ).toBe(true);
      }
      if (ours.kind === 'facts') {
        const { info } = ours;
        expect(Number.isFinite(info.duration) && info.duration >= 0).toBe(true);
        expect(info.duration).toBeCloseTo(entry.declares.duration, 3);
        expect(Number.isFinite(info.bitRate) && info.bitRate >= 0).toBe(true);
        expect([info.video?.codedWidth, info.video?.codedHeight]).toEqual([
          entry.declares.width,
          entry.declares.height,
        ]);
        expect(Number.isFinite(info.video!.frameRate) && info.video!.frameRate >= 0).toBe(true);
        expect(Number.isFinite(info.video!.bitRate) && info.video!.bitRate >= 0).toBe(true);
      }

      const probed = await ffprobeOrUndefined(entry.path);
      if (!entry.ffprobe.readable) {
        expect(probed, 'ffprobe refuses the file').toBeUndefined();
      } else {
        expect(probed, 'ffprobe reads the file').toBeDefined();
        const video = probed!.streams?.find((stream) => stream.codec_type === 'video');
        expect({
          duration: Number(probed!.format?.duration),
          width: video?.width,
          height: video?.height,
          codec: video?.codec_name,
        }).toEqual({
          duration: entry.ffprobe.duration,
          width: entry.ffprobe.width,
          height: entry.ffprobe.height,
          codec: entry.ffprobe.codec,
        });
      }

      // What the render path would plan with: our facts, else ffprobe's.
      const facts =
        ours.kind === 'facts' ? ours.info : probed ? parseProbeOutput(probed, file.length) : undefined;
      if (entry.verdict === 'unreadable') {
        expect(ours.kind).not.toBe('facts');
        expect(probed).toBeUndefined();
      } else {
        expect(facts, 'someone reads the file').toBeDefined();
        expect(limitVerdict(facts!)).toBe(entry.verdict);
      }
    },
  );

  test('a declared 2^32-1 s is refused from the index alone, without ffprobe', async () => {
    const entry = corpus.find((e) => e.name === 'duration-2p32.mp4')!;
    const ours = readIndex(await readFile(entry.path));
    expect(ours.kind).toBe('facts');
    const info = (ours as { info: MediaInfo }).info;
    expect(info.duration).toBe(2 ** 32 - 1);
    expect(() => checkSourceLimits(info, DEFAULT_LIMITS)).toThrow(/MAX_SOURCE_DURATION/);
  });
});
