import { describe, expect, test } from 'vitest';
import { BadRequestError, ProxyError, UnprocessableError } from '../errors.js';
import type { MediaInfo } from '../media/types.js';
import { parseTransformation } from '../url/index.js';
import type { TransformParams } from '../url/types.js';
import type { PlanLimits } from './types.js';
import {
  type AutoFormat,
  chooseAutoFormat,
  crfFor,
  DEFAULT_VIDEO_QUALITY,
  planVideo,
  type VideoPlan,
} from './video.js';

const LIMITS: PlanLimits = {
  maxOutputPixels: 3840 * 2160,
  maxSourceDuration: 3600,
  maxSourcePixels: 8192 * 8192,
  maxSourceStreams: 16,
};

/** A 12 s 1280x720 H.264 + AAC mp4, like fixtures/sample.mp4. */
function mediaInfo(overrides: Partial<MediaInfo> = {}): MediaInfo {
  return {
    formatName: 'mov,mp4,m4a,3gp,3g2,mj2',
    duration: 12,
    bitRate: 1_000_000,
    size: 1_500_000,
    streamCount: 2,
    video: {
      codec: 'h264',
      codedWidth: 1280,
      codedHeight: 720,
      width: 1280,
      height: 720,
      rotation: 0,
      frameRate: 30,
      pixelFormat: 'yuv420p',
      bitRate: 900_000,
    },
    audio: { codec: 'aac', sampleRate: 48_000, channels: 2, bitRate: 128_000 },
    ...overrides,
  };
}

function plan(tr: string, info = mediaInfo(), auto: AutoFormat = 'mp4'): VideoPlan {
  return planVideo(parseTransformation(tr, {}), info, LIMITS, auto);
}

function format(result: VideoPlan): string {
  return `${result.container}/${result.videoCodec}/${result.audioCodec} ${result.contentType}`;
}

describe('container and codecs', () => {
  test.each([
    ['w-640', 'mp4/h264/aac video/mp4'],
    ['f-mp4', 'mp4/h264/aac video/mp4'],
    ['f-webm', 'webm/vp9/opus video/webm'],
    ['vc-vp9', 'webm/vp9/opus video/webm'],
    ['ac-opus', 'webm/vp9/opus video/webm'],
    ['vc-av1', 'mp4/av1/aac video/mp4'],
    ['f-mp4,vc-av1', 'mp4/av1/aac video/mp4'],
    ['f-webm,vc-av1', 'webm/av1/opus video/webm'],
    ['vc-av1,ac-opus', 'webm/av1/opus video/webm'],
    ['vc-none', 'mp4/none/aac audio/mp4'],
    ['f-webm,vc-none', 'webm/none/opus audio/webm'],
    ['ac-none', 'mp4/h264/none video/mp4'],
    ['f-webm,ac-none', 'webm/vp9/none video/webm'],
    ['f-orig,w-640', 'mp4/h264/aac video/mp4'],
  ])('%s -> %s', (tr, expected) => {
    expect(format(plan(tr))).toBe(expected);
  });

  test('f-orig follows the source container', () => {
    expect(format(plan('f-orig,w-320', mediaInfo({ formatName: 'matroska,webm' })))).toBe(
      'webm/vp9/opus video/webm',
    );
    expect(format(plan('f-orig,w-320', mediaInfo({ formatName: 'ogg' })))).toBe('mp4/h264/aac video/mp4');
  });

  test('a codec that fits one container only wins over f-auto and f-orig', () => {
    expect(format(plan('f-auto,vc-h264', mediaInfo(), 'webm'))).toBe('mp4/h264/aac video/mp4');
    expect(format(plan('f-auto,ac-opus', mediaInfo(), 'mp4'))).toBe('webm/vp9/opus video/webm');
    expect(format(plan('f-orig,vc-vp9'))).toBe('webm/vp9/opus video/webm');
    expect(format(plan('f-auto,vc-av1', mediaInfo(), 'webm'))).toBe('webm/av1/opus video/webm');
    expect(format(plan('f-auto,vc-av1', mediaInfo(), 'mp4'))).toBe('mp4/av1/aac video/mp4');
  });

  test('f-auto uses the resolved choice for this client', () => {
    expect(format(plan('f-auto', mediaInfo(), 'webm'))).toBe('webm/vp9/opus video/webm');
    expect(format(plan('f-auto', mediaInfo(), 'mp4'))).toBe('mp4/h264/aac video/mp4');
  });

  // The URL parser refuses these too; the planner checks again so no caller can plan a broken file.
  test.each<[string, TransformParams, string]>([
    ['f-mp4,vc-vp9', { f: 'mp4', vc: 'vp9' }, 'vc'],
    ['f-mp4,ac-opus', { f: 'mp4', ac: 'opus' }, 'ac'],
    ['f-webm,vc-h264', { f: 'webm', vc: 'h264' }, 'vc'],
    ['f-webm,ac-aac', { f: 'webm', ac: 'aac' }, 'ac'],
    ['vc-vp9,ac-aac', { vc: 'vp9', ac: 'aac' }, 'ac'],
    ['vc-h264,ac-opus', { vc: 'h264', ac: 'opus' }, 'ac'],
    ['f-orig,vc-h264,ac-opus', { f: 'orig', vc: 'h264', ac: 'opus' }, 'ac'],
    ['f-auto,vc-vp9,ac-aac', { f: 'auto', vc: 'vp9', ac: 'aac' }, 'ac'],
  ])('%s is a 400', (_tr, params, param) => {
    try {
      planVideo(params, mediaInfo(), LIMITS, 'webm');
      expect.unreachable('the combination should have been refused');
    } catch (error) {
      expect(error).toBeInstanceOf(BadRequestError);
      expect((error as BadRequestError).param).toBe(param);
      expect((error as ProxyError).message).toContain(`${param}-`);
    }
  });

  test('an invalid combination is refused even when the source lacks the stream it names', () => {
    expect(() => planVideo({ f: 'mp4', ac: 'opus' }, mediaInfo({ audio: undefined }), LIMITS, 'mp4')).toThrow(
      BadRequestError,
    );
  });

  test('a source without audio gives a video-only output; without video, audio only', () => {
    expect(format(plan('w-320', mediaInfo({ audio: undefined })))).toBe('mp4/h264/none video/mp4');
    const audioOnly = plan('f-webm', mediaInfo({ video: undefined }));
    expect(format(audioOnly)).toBe('webm/none/opus audio/webm');
    expect(audioOnly.ops).toEqual([]);
  });

  test('removing the only stream there is fails with a client error', () => {
    const attempt = () => plan('vc-none', mediaInfo({ audio: undefined }));
    expect(attempt).toThrow(ProxyError);
    try {
      attempt();
    } catch (error) {
      expect((error as ProxyError).status).toBeGreaterThanOrEqual(400);
      expect((error as ProxyError).status).toBeLessThan(500);
    }
  });

  test('audio-only outputs plan no geometry', () => {
    const result = plan('vc-none,w-320');
    expect(result.ops).toEqual([]);
    expect(result.width).toBe(0);
  });
});

describe('geometry comes from planGeometry with even sizes', () => {
  test('w on a 16:9 source', () => {
    const result = plan('w-300');
    expect([result.width, result.height]).toEqual([300, 168]);
  });

  test('odd source dimensions give an even output', () => {
    const odd = mediaInfo({
      video: { ...mediaInfo().video!, width: 641, height: 359, codedWidth: 641, codedHeight: 359 },
    });
    const result = plan('f-webm', odd);
    expect(result.width % 2).toBe(0);
    expect(result.height % 2).toBe(0);
  });

  test('a portrait (rotated phone) source plans on its display size', () => {
    const phone = mediaInfo({
      video: {
        ...mediaInfo().video!,
        codedWidth: 1920,
        codedHeight: 1080,
        width: 1080,
        height: 1920,
        rotation: 90,
      },
    });
    const result = plan('w-360', phone);
    expect([result.width, result.height]).toEqual([360, 640]);
  });

  test('the output pixel limit applies', () => {
    expect(() => plan('w-8000')).toThrow(UnprocessableError);
  });
});

describe('f-auto from the User-Agent', () => {
  const agents: Array<[string, string | undefined, AutoFormat]> = [
    [
      'Safari on macOS',
      'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15',
      'mp4',
    ],
    [
      'Safari on iOS',
      'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1',
      'mp4',
    ],
    [
      'Safari on iPadOS',
      'Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1',
      'mp4',
    ],
    [
      'Chrome on iOS (WebKit underneath)',
      'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/123.0.6312.52 Mobile/15E148 Safari/604.1',
      'mp4',
    ],
    [
      'Firefox on iOS (WebKit underneath)',
      'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/124.0 Mobile/15E148 Safari/605.1.15',
      'mp4',
    ],
    [
      'Chrome on Windows',
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
      'webm',
    ],
    [
      'Chrome on Android',
      'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.54 Mobile Safari/537.36',
      'webm',
    ],
    ['Firefox on Linux', 'Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0', 'webm'],
    [
      'Edge on Windows',
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.51',
      'webm',
    ],
    [
      'Headless Chromium',
      'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.0.0 Safari/537.36',
      'webm',
    ],
    ['curl', 'curl/8.5.0', 'mp4'],
    ['no User-Agent', undefined, 'mp4'],
    ['empty User-Agent', '', 'mp4'],
  ];
  test.each(agents)('%s -> %s', (_name, userAgent, expected) => {
    expect(chooseAutoFormat(userAgent)).toBe(expected);
  });
});

describe('quality -> CRF', () => {
  test('the default quality is 50, as ImageKit', () => {
    expect(DEFAULT_VIDEO_QUALITY).toBe(50);
    expect(plan('w-320').quality).toBe(50);
    expect(plan('w-320').crf).toBe(crfFor('h264', 50));
  });

  test('q50 is x264 default CRF 23; the ends of the scale reach each encoder range', () => {
    expect(crfFor('h264', 50)).toBe(23);
    expect(crfFor('h264', 1)).toBe(51);
    expect(crfFor('vp9', 1)).toBe(63);
    expect(crfFor('av1', 1)).toBe(63);
    // q100 is visually lossless territory, not the huge files of CRF 0.
    for (const codec of ['h264', 'vp9', 'av1'] as const) {
      expect(crfFor(codec, 100)).toBeGreaterThanOrEqual(10);
      expect(crfFor(codec, 100)).toBeLessThanOrEqual(20);
    }
  });

  test.each(['h264', 'vp9', 'av1'] as const)(
    '%s: higher q never raises the CRF and stays in range',
    (codec) => {
      const max = codec === 'h264' ? 51 : 63;
      let previous = Number.POSITIVE_INFINITY;
      for (let q = 1; q <= 100; q++) {
        const crf = crfFor(codec, q);
        expect(crf).toBeLessThanOrEqual(previous);
        expect(crf).toBeGreaterThanOrEqual(0);
        expect(crf).toBeLessThanOrEqual(max);
        previous = crf;
      }
      expect(crfFor(codec, 100)).toBeLessThan(crfFor(codec, 1));
    },
  );

  test('the plan carries the CRF of its codec', () => {
    expect(plan('q-80').crf).toBe(crfFor('h264', 80));
    expect(plan('q-80,f-webm').crf).toBe(crfFor('vp9', 80));
    expect(plan('q-80,vc-av1').crf).toBe(crfFor('av1', 80));
    expect(plan('q-80').quality).toBe(80);
  });
});

describe('trim', () => {
  test('no trim: from 0 to the end', () => {
    const result = plan('w-320');
    expect(result.start).toBe(0);
    expect(result.duration).toBeUndefined();
  });

  test.each([
    ['so-2', 2, undefined],
    ['so-2,eo-5', 2, 3],
    ['so-2,du-3', 2, 3],
    ['eo-5', 0, 5],
    ['du-4.5', 0, 4.5],
    ['so-1.25,du-0.5', 1.25, 0.5],
    ['du-idu_mul_0.5', 0, 6],
    ['so-idu_div_4,du-idu_div_4', 3, 3],
    ['so-idu_sub_2', 10, undefined],
    // Past the end means "to the end".
    ['so-10,du-5', 10, undefined],
    ['eo-30', 0, undefined],
  ])('%s -> start %s, duration %s', (tr, start, duration) => {
    const result = plan(tr);
    expect(result.start).toBe(start);
    expect(result.duration).toBe(duration);
  });

  test('expressions resolve against the source duration', () => {
    expect(plan('du-idu_mul_0.5', mediaInfo({ duration: 60 })).duration).toBe(30);
  });

  test.each([
    ['so-12', 'so'],
    ['so-20', 'so'],
    ['so-5,eo-4', 'eo'],
    ['so-5,eo-5', 'eo'],
    ['so-idu_add_1', 'so'],
    ['du-idu_sub_20', 'du'],
  ])('%s is a 400 naming %s', (tr, param) => {
    try {
      plan(tr);
      expect.unreachable(`${tr} should have been refused`);
    } catch (error) {
      expect(error).toBeInstanceOf(BadRequestError);
      expect((error as BadRequestError).param).toBe(param);
    }
  });
});

describe('absurd output shapes (design §5)', () => {
  test('w-16380,h-2 is the exact 16380x2 output, cut from a 2-row region of the source, never a 16380x9214 frame', () => {
    const result = plan('w-16380,h-2');
    expect(`${result.width}x${result.height}`).toBe('16380x2');
    expect(result.ops).toEqual([
      { op: 'crop', x: 0, y: 358, width: 1280, height: 2 },
      { op: 'resize', width: 16380, height: 2 },
    ]);
  });

  test.each(['w-16380,h-2,vc-av1', 'w-32,h-32,vc-av1', 'w-100,h-9000,vc-av1,f-webm'])(
    '%s is a 422 before SVT-AV1 would refuse the frame size',
    (tr) => {
      expect(() => plan(tr)).toThrow(UnprocessableError);
      expect(() => plan(tr)).toThrow(/vc-av1.*64x64 to 16384x8704/);
    },
  );

  test('AV1 frame sizes inside its range plan normally', () => {
    expect(plan('w-64,h-64,vc-av1').width).toBe(64);
    expect(plan('w-320,vc-av1').height).toBe(180);
  });
});
