import { describe, expect, test } from 'vitest';
import { mediaInfo } from '../../test/support/media-info.js';
import { BadRequestError } from '../errors.js';
import type { MediaInfo } from '../media/types.js';
import {
  AUDIO_TRACK_HEIGHT,
  dashManifest,
  h264Level,
  hlsMasterPlaylist,
  hlsMediaPlaylist,
  outputFrameRate,
  planAbs,
  segmentWindow,
} from './index.js';

function source(
  overrides: { width?: number; height?: number; fps?: number; duration?: number; audio?: boolean } = {},
): MediaInfo {
  return mediaInfo({
    width: overrides.width ?? 1920,
    height: overrides.height ?? 1080,
    fps: overrides.fps,
    duration: overrides.duration ?? 30,
    audio: overrides.audio === false ? false : 44_100,
  });
}

describe('planAbs ladder', () => {
  test('keeps heights up to the source, widths even with the aspect ratio, ladder rates', () => {
    const plan = planAbs({ sr: [240, 360, 720, 1080, 1440] }, source({ width: 1920, height: 1080 }), 4);
    expect(plan.renditions.map((r) => [r.height, r.width, r.maxRate])).toEqual([
      [240, 426, 200_000],
      [360, 640, 400_000],
      [720, 1280, 3_300_000],
      [1080, 1920, 5_500_000],
    ]);
  });

  test('rt-90 swaps the display size: a landscape source becomes portrait renditions', () => {
    const plan = planAbs({ sr: [360, 720, 1080, 1440] }, source({ width: 1280, height: 720 }), 4);
    expect(plan.renditions.map((r) => r.height)).toEqual([360, 720]);
    const turned = planAbs({ sr: [360, 720, 1080, 1440], rt: 90 }, source({ width: 1280, height: 720 }), 4);
    expect(turned.renditions.map((r) => [r.width, r.height])).toEqual([
      [202, 360],
      [406, 720],
      [608, 1080],
    ]);
  });

  test('an empty ladder after filtering is a 400 naming the source height', () => {
    const attempt = () => planAbs({ sr: [720, 1080] }, source({ width: 640, height: 360 }), 4);
    expect(attempt).toThrow(BadRequestError);
    expect(attempt).toThrow(/360 px/);
  });

  test('levels follow frame size, rate and bit rate; codec strings encode them', () => {
    expect(h264Level(640, 360, { num: 30, den: 1 }, 400_000).name).toBe('3.0');
    expect(h264Level(1280, 720, { num: 30, den: 1 }, 3_300_000).name).toBe('3.1');
    expect(h264Level(1280, 720, { num: 60, den: 1 }, 3_300_000).name).toBe('3.2');
    expect(h264Level(1920, 1080, { num: 30, den: 1 }, 5_500_000).name).toBe('4.0');
    expect(h264Level(3840, 2160, { num: 30, den: 1 }, 18_000_000).name).toBe('5.1');
    const plan = planAbs({ sr: [720, 1080] }, source(), 4);
    expect(plan.renditions.map((r) => r.codecs)).toEqual(['avc1.64001f', 'avc1.640028']);
  });
});

describe('planAbs timing', () => {
  test('frame rates: NTSC rates exact, others rounded, capped at 60', () => {
    expect(outputFrameRate(29.97002997)).toEqual({ num: 30_000, den: 1001 });
    expect(outputFrameRate(23.976)).toEqual({ num: 24_000, den: 1001 });
    expect(outputFrameRate(27.4)).toEqual({ num: 27, den: 1 });
    expect(outputFrameRate(120)).toEqual({ num: 60, den: 1 });
  });

  test.each([
    [29.97002997, 14.014, 120, 420, 90_000],
    [23.976, 10, 96, 240, 24_000],
    [25, 9.99, 100, 250, 90_000],
  ])(
    '%f fps, %f s: whole-frame segments that add up to the window',
    (fps, duration, perSegment, total, timescale) => {
      const plan = planAbs({ sr: [240] }, source({ fps, duration }), 4);
      expect(plan.video.framesPerSegment).toBe(perSegment);
      expect(plan.video.totalFrames).toBe(total);
      expect(plan.video.timescale).toBe(timescale);
      let frames = 0;
      let ticks = 0;
      for (let i = 0; i < plan.segmentCount; i++) {
        const w = segmentWindow(plan, 240, i);
        expect(w.startTicks).toBe(ticks);
        expect(Number.isInteger(w.durationTicks)).toBe(true);
        frames += w.count;
        ticks += w.durationTicks;
      }
      expect(frames).toBe(total);
      const audio = plan.audio!.boundaries;
      expect(audio).toHaveLength(plan.segmentCount + 1);
      expect(audio.every((b, i) => b % 1024 === 0 && (i === 0 || b > audio[i - 1]!))).toBe(true);
      // Audio ends within half an AAC frame of the video.
      expect(Math.abs(audio.at(-1)! / 48_000 - ticks / timescale)).toBeLessThanOrEqual(512 / 48_000);
    },
  );

  test('so/eo/du pick the window; bad windows are 400s', () => {
    const info = source({ duration: 30 });
    const du = planAbs(
      { sr: [240], so: { kind: 'seconds', value: 5 }, du: { kind: 'seconds', value: 10 } },
      info,
      4,
    );
    expect([du.start, du.end, du.video.totalFrames, du.segmentCount]).toEqual([5, 15, 300, 3]);
    const eo = planAbs(
      { sr: [240], so: { kind: 'seconds', value: 5 }, eo: { kind: 'seconds', value: 99 } },
      info,
      4,
    );
    expect([eo.start, eo.end]).toEqual([5, 30]);
    expect(() => planAbs({ sr: [240], so: { kind: 'seconds', value: 30 } }, info, 4)).toThrow(/so/);
    expect(() =>
      planAbs({ sr: [240], so: { kind: 'seconds', value: 5 }, eo: { kind: 'seconds', value: 4 } }, info, 4),
    ).toThrow(/eo/);
  });

  test('segmentWindow rejects unknown tracks and indexes', () => {
    const plan = planAbs({ sr: [240] }, source({ audio: false }), 4);
    expect(() => segmentWindow(plan, 240, plan.segmentCount)).toThrow(BadRequestError);
    expect(() => segmentWindow(plan, 360, 0)).toThrow(BadRequestError);
    expect(() => segmentWindow(plan, AUDIO_TRACK_HEIGHT, 0)).toThrow(/no audio/);
  });
});

describe('manifests', () => {
  const plan = planAbs(
    { sr: [240, 360] },
    source({ fps: 29.97002997, duration: 14.014, width: 1280, height: 720 }),
    4,
  );
  const query = 'tr=sr-240_360&ik-s=abc$1';

  test('HLS master: audio group, one STREAM-INF per rendition, the query on every URI', () => {
    const master = hlsMasterPlaylist(plan, `?${query}`);
    expect(master).toContain(`#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio"`);
    expect(master).toContain(`URI="ik-abs/audio/index.m3u8?${query}"`);
    expect(master).toContain(
      `#EXT-X-STREAM-INF:BANDWIDTH=${plan.renditions[1]!.bandwidth},AVERAGE-BANDWIDTH=528000,RESOLUTION=640x360,CODECS="avc1.64001e,mp4a.40.2",FRAME-RATE=29.970,AUDIO="audio"\nik-abs/360/index.m3u8?${query}`,
    );
    expect(hlsMasterPlaylist(planAbs({ sr: [240] }, source({ audio: false }), 4), '')).not.toContain('mp4a');
  });

  test('HLS media playlist: VOD, target duration, map, EXTINF adding up to the window', () => {
    const media = hlsMediaPlaylist(plan, 360, query);
    expect(media).toContain('#EXT-X-PLAYLIST-TYPE:VOD\n');
    expect(media).toContain('#EXT-X-TARGETDURATION:5\n');
    expect(media).toContain(`#EXT-X-MAP:URI="init.mp4?${query}"`);
    expect(media).toContain(`seg-3.m4s?${query}\n#EXT-X-ENDLIST`);
    const total = [...media.matchAll(/#EXTINF:([\d.]+),/g)].reduce((sum, m) => sum + Number(m[1]), 0);
    expect(total).toBeCloseTo(14.014, 5);
    const audio = hlsMediaPlaylist(plan, AUDIO_TRACK_HEIGHT, query);
    const audioTotal = [...audio.matchAll(/#EXTINF:([\d.]+),/g)].reduce((sum, m) => sum + Number(m[1]), 0);
    expect(audioTotal).toBeCloseTo(plan.audio!.boundaries.at(-1)! / 48_000, 5);
  });

  test('DASH: escaped query, $ doubled, timeline durations equal the segment windows', () => {
    const mpd = dashManifest(plan, query);
    expect(mpd).toContain('media="ik-abs/$RepresentationID$/seg-$Number$.m4s?tr=sr-240_360&amp;ik-s=abc$$1"');
    expect(mpd).not.toMatch(/&(?!amp;)/);
    expect(mpd).toContain('mediaPresentationDuration="PT14.014S"');
    expect(mpd).toContain('<S t="0" d="360360" r="2"/>');
    expect(mpd).toContain('<S d="180180"/>');
    expect(mpd).toContain('<Representation id="360" codecs="avc1.64001e"');
    expect(mpd).toContain('<Representation id="audio" codecs="mp4a.40.2"');
    const audioTicks = [
      ...mpd.split('contentType="audio"')[1]!.matchAll(/<S(?: t="0")? d="(\d+)"(?: r="(\d+)")?/g),
    ].reduce((sum, m) => sum + Number(m[1]) * (1 + Number(m[2] ?? 0)), 0);
    expect(audioTicks).toBe(plan.audio!.boundaries.at(-1));
  });
});
