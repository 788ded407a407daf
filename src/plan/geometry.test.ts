import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { BadRequestError, ProxyError, UnprocessableError } from '../errors.js';
import { parseTransformation } from '../url/index.js';
import { type GeometryOp, type GeometryOptions, type GeometryPlan, planGeometry } from './geometry.js';

const VIDEO: GeometryOptions = { even: true, defaultBackground: '000000', maxOutputPixels: 8192 * 8192 };
const STILL: GeometryOptions = { even: false, defaultBackground: '000000', maxOutputPixels: 8192 * 8192 };
const HD = { width: 1280, height: 720 };

function plan(tr: string, source = HD, options = VIDEO): GeometryPlan {
  return planGeometry(parseTransformation(tr, {}), source, options);
}

function size(tr: string, source = HD, options = VIDEO): string {
  const { width, height } = plan(tr, source, options);
  return `${width}x${height}`;
}

describe('one side given: the other keeps the aspect ratio', () => {
  test.each([
    ['w-640', '640x360'],
    ['h-360', '640x360'],
    ['w-0.5', '640x360'],
    ['h-0.25', '320x180'],
    ['w-iw_div_4', '320x180'],
    ['h-ih_mul_0.5', '640x360'],
    ['w-2560', '2560x1440'],
    ['w-640,c-force', '640x360'],
    ['w-640,c-at_least', '640x360'],
  ])('%s on 1280x720 -> %s', (tr, expected) => {
    expect(size(tr)).toBe(expected);
  });

  test('a single resize op describes the whole change', () => {
    expect(plan('w-640').ops).toEqual([{ op: 'resize', width: 640, height: 360 }]);
  });

  test('video sizes are even; stills keep the exact size', () => {
    // 300 * 720 / 1280 = 168.75
    expect(size('w-300')).toBe('300x168');
    expect(size('w-300', HD, STILL)).toBe('300x169');
    expect(size('w-301')).toBe('302x170');
  });

  test('c-at_max never enlarges, with one side or both', () => {
    expect(size('w-2560,c-at_max')).toBe('1280x720');
    expect(plan('w-2560,c-at_max').ops).toEqual([]);
    expect(size('w-2560,h-2000,c-at_max')).toBe('1280x720');
  });

  test('no size asked keeps the source size, made even for video only', () => {
    expect(plan('q-50').ops).toEqual([]);
    expect(size('q-50', { width: 641, height: 359 })).toBe('642x360');
    expect(size('q-50', { width: 641, height: 359 }, STILL)).toBe('641x359');
  });
});

describe('both sides given', () => {
  test('c-maintain_ratio (default) scales to cover and crops to the box at the focus', () => {
    const centre = plan('w-400,h-400');
    expect(centre).toEqual({
      width: 400,
      height: 400,
      ops: [
        { op: 'resize', width: 712, height: 400 },
        { op: 'crop', x: 156, y: 0, width: 400, height: 400 },
      ],
    });
    expect(plan('w-400,h-400,fo-left').ops[1]).toMatchObject({ x: 0, y: 0 });
    expect(plan('w-400,h-400,fo-right').ops[1]).toMatchObject({ x: 312, y: 0 });
    expect(plan('w-400,h-400,c-maintain_ratio').ops).toEqual(centre.ops);
    // A tall box on a wide source crops top/bottom instead.
    expect(plan('w-640,h-100,fo-bottom').ops).toEqual([
      { op: 'resize', width: 640, height: 360 },
      { op: 'crop', x: 0, y: 260, width: 640, height: 100 },
    ]);
    expect(plan('w-640,h-100,fo-top').ops[1]).toMatchObject({ x: 0, y: 0 });
  });

  test('the same aspect ratio as the source needs no crop', () => {
    expect(plan('w-640,h-360').ops).toEqual([{ op: 'resize', width: 640, height: 360 }]);
  });

  test('c-force stretches to exactly the box', () => {
    expect(plan('w-400,h-400,c-force')).toEqual({
      width: 400,
      height: 400,
      ops: [{ op: 'resize', width: 400, height: 400 }],
    });
  });

  test('c-at_max fits inside the box without enlarging and never exceeds it', () => {
    expect(size('w-400,h-400,c-at_max')).toBe('400x224');
    // 400x225 exactly: an even size must round down, not up to 226.
    expect(size('w-400,h-225,c-at_max')).toBe('400x224');
    expect(size('w-400,h-225,c-at_max', HD, STILL)).toBe('400x225');
    expect(size('w-100,h-300,c-at_max')).toBe('100x56');
    // Odd source that already fits: no enlarging even to reach an even size.
    expect(size('w-1000,h-1000,c-at_max', { width: 641, height: 359 })).toBe('640x358');
  });

  test('c-at_least covers the box without cropping', () => {
    const { width, height, ops } = plan('w-400,h-400,c-at_least');
    expect(`${width}x${height}`).toBe('712x400');
    expect(ops.some((op) => op.op === 'crop')).toBe(false);
    // 401 tall: 401 * 1280 / 720 = 712.9 -> both sides at least the box.
    const odd = plan('w-401,h-401,c-at_least');
    expect(odd.width).toBeGreaterThanOrEqual(401);
    expect(odd.height).toBeGreaterThanOrEqual(401);
    expect(odd.width % 2).toBe(0);
    expect(odd.height % 2).toBe(0);
    // It may enlarge.
    expect(size('w-2560,h-100,c-at_least')).toBe('2560x1440');
  });

  test('cm-pad_resize fits, then pads with bg at the focus', () => {
    expect(plan('w-400,h-400,cm-pad_resize,bg-FF0000')).toEqual({
      width: 400,
      height: 400,
      ops: [
        { op: 'resize', width: 400, height: 226 },
        // (400 - 226) / 2 = 87, made even so ffmpeg's yuv420p pad does not shift it.
        { op: 'pad', width: 400, height: 400, x: 0, y: 86, color: 'FF0000' },
      ],
    });
    expect(plan('w-400,h-400,cm-pad_resize,fo-top').ops[1]).toMatchObject({ x: 0, y: 0 });
    expect(plan('w-400,h-400,cm-pad_resize,fo-bottom').ops[1]).toMatchObject({ x: 0, y: 174 });
    expect(plan('w-400,h-400,cm-pad_resize').ops[1]).toMatchObject({ color: '000000' });
    // Stills keep the exact centre.
    expect(plan('w-400,h-400,cm-pad_resize', HD, STILL).ops[1]).toMatchObject({ x: 0, y: 87 });
    // A portrait box on a landscape source pads left and right.
    expect(plan('w-200,h-400,cm-pad_resize,fo-right').ops).toEqual([
      { op: 'resize', width: 200, height: 112 },
      { op: 'pad', width: 200, height: 400, x: 0, y: 144, color: '000000' },
    ]);
  });

  test('cm-extract cuts a w x h region at the focus without scaling', () => {
    expect(plan('w-400,h-300,cm-extract')).toEqual({
      width: 400,
      height: 300,
      ops: [{ op: 'crop', x: 440, y: 210, width: 400, height: 300 }],
    });
    expect(plan('w-400,h-300,cm-extract,fo-top_left').ops[0]).toMatchObject({ x: 0, y: 0 });
    expect(plan('w-400,h-300,cm-extract,fo-bottom_right').ops[0]).toMatchObject({ x: 880, y: 420 });
    expect(plan('w-400,h-300,cm-extract,fo-top_right').ops[0]).toMatchObject({ x: 880, y: 0 });
    expect(plan('w-400,h-300,cm-extract,fo-bottom_left').ops[0]).toMatchObject({ x: 0, y: 420 });
    // A box larger than the source is limited to the source.
    expect(size('w-2000,h-300,cm-extract')).toBe('1280x300');
    // Odd box on video: even region.
    expect(size('w-401,h-301,cm-extract')).toBe('402x302');
    expect(size('w-401,h-301,cm-extract', HD, STILL)).toBe('401x301');
  });

  test('cm-pad_extract cuts, and pads where the source is smaller than the box', () => {
    expect(plan('w-1600,h-900,cm-pad_extract,bg-00FF00')).toEqual({
      width: 1600,
      height: 900,
      ops: [
        { op: 'crop', x: 0, y: 0, width: 1280, height: 720 },
        { op: 'pad', width: 1600, height: 900, x: 160, y: 90, color: '00FF00' },
      ],
    });
    expect(plan('w-400,h-1000,cm-pad_extract').ops).toEqual([
      { op: 'crop', x: 440, y: 0, width: 400, height: 720 },
      { op: 'pad', width: 400, height: 1000, x: 0, y: 140, color: '000000' },
    ]);
    // Smaller than the source in both sides: just the cut.
    expect(plan('w-400,h-300,cm-pad_extract').ops).toEqual([
      { op: 'crop', x: 440, y: 210, width: 400, height: 300 },
    ]);
  });

  test('ar with one side derives the other; the box then crops like maintain_ratio', () => {
    expect(size('w-400,ar-1-1')).toBe('400x400');
    expect(size('h-300,ar-4-3')).toBe('400x300');
    expect(plan('w-400,ar-1-1').ops[1]).toMatchObject({ op: 'crop', width: 400, height: 400 });
    expect(size('w-400,ar-1-1,cm-pad_resize')).toBe('400x400');
    expect(size('w-401,ar-4-3')).toBe('402x300');
  });
});

describe('rotation, corners and borders', () => {
  test('rt-90 and rt-270 swap the sides and come first, so w/h describe the rotated frame', () => {
    expect(plan('rt-90')).toEqual({ width: 720, height: 1280, ops: [{ op: 'rotate', degrees: 90 }] });
    expect(size('rt-270')).toBe('720x1280');
    expect(plan('rt-90,w-360').ops).toEqual([
      { op: 'rotate', degrees: 90 },
      { op: 'resize', width: 360, height: 640 },
    ]);
    expect(size('rt-90,w-0.5')).toBe('360x640');
    expect(size('rt-90,w-iw_div_2')).toBe('360x640');
  });

  test('rt-180 keeps the sides', () => {
    expect(plan('rt-180')).toEqual({ width: 1280, height: 720, ops: [{ op: 'rotate', degrees: 180 }] });
  });

  test('a border grows the frame on every side; video rounds its width up to even', () => {
    expect(plan('w-640,b-5_FF0000').ops.at(-1)).toEqual({ op: 'border', width: 6, color: 'FF0000' });
    expect(size('w-640,b-5_FF0000')).toBe('652x372');
    expect(size('w-640,b-5_FF0000', HD, STILL)).toBe('650x370');
    expect(size('w-640,b-4_00FF00')).toBe('648x368');
  });

  test('r-N rounds corners with the background colour; r-max is half the short side', () => {
    expect(plan('w-640,r-20').ops.at(-1)).toEqual({ op: 'round', radius: 20, color: '000000' });
    expect(plan('w-640,r-20,bg-FFFFFF').ops.at(-1)).toEqual({ op: 'round', radius: 20, color: 'FFFFFF' });
    expect(plan('w-640,r-max').ops.at(-1)).toEqual({ op: 'round', radius: 180, color: '000000' });
    expect(plan('w-640,r-5000').ops.at(-1)).toMatchObject({ radius: 180 });
    expect(size('w-640,r-20')).toBe('640x360');
  });

  test('corners are rounded before the border is drawn around them', () => {
    const kinds = plan('w-640,r-20,b-2_FFFFFF').ops.map((op) => op.op);
    expect(kinds).toEqual(['resize', 'round', 'border']);
  });
});

describe('every video size is even', () => {
  const sources = [
    { width: 1280, height: 720 },
    { width: 641, height: 359 },
    { width: 176, height: 144 },
    { width: 1080, height: 1920 },
  ];
  const transforms = [
    'w-333',
    'h-333',
    'w-0.33',
    'w-333,h-211',
    'w-333,h-211,c-force',
    'w-333,h-211,c-at_max',
    'w-333,h-211,c-at_least',
    'w-333,h-211,cm-pad_resize',
    'w-133,h-111,cm-extract',
    'w-733,h-911,cm-pad_extract',
    'rt-90,w-333',
    'w-333,b-3_FFFFFF',
    'w-333,ar-7-5',
  ];
  for (const source of sources) {
    test.each(transforms)(`%s on ${source.width}x${source.height}`, (tr) => {
      const result = plan(tr, source);
      expect(result.width % 2).toBe(0);
      expect(result.height % 2).toBe(0);
      for (const op of result.ops) {
        if ('width' in op && op.op !== 'border') expect(op.width % 2).toBe(0);
        if ('height' in op) expect(op.height % 2).toBe(0);
        if ('x' in op) expect(op.x % 2).toBe(0);
        if ('y' in op) expect(op.y % 2).toBe(0);
      }
    });
  }
});

describe('errors', () => {
  test('an expression that resolves to no size is a 400 naming the parameter', () => {
    expect(() => plan('w-iw_sub_2000')).toThrow(BadRequestError);
    expect(() => plan('w-iw_sub_2000')).toThrow(/'w'/);
    expect(() => plan('h-ih_mul_100')).toThrow(/'h'/);
  });

  test('an output over the pixel limit is a 422', () => {
    const small = { ...VIDEO, maxOutputPixels: 640 * 360 };
    expect(() => plan('w-640', HD, small)).not.toThrow();
    expect(() => plan('w-642', HD, small)).toThrow(UnprocessableError);
    expect(() => plan('w-640,b-2_FFFFFF', HD, small)).toThrow(/limit/);
  });
});

/** The default `MAX_OUTPUT_PIXELS` (3840x2160) and `MAX_SOURCE_PIXELS` (4096x2304). */
const MAX_OUTPUT_PIXELS = 8_294_400;
const MAX_SOURCE_PIXELS = 9_437_184;

/**
 * Runs `ops` on a frame of `source` size by their sizes alone, checking each op fits the frame it
 * gets (a crop inside it, a pad around it), and returns the size after each op.
 */
function frameSizes(source: { width: number; height: number }, ops: readonly GeometryOp[]) {
  let { width, height } = source;
  const sizes: { op: string; width: number; height: number }[] = [];
  for (const op of ops) {
    switch (op.op) {
      case 'rotate':
        if (op.degrees !== 180) [width, height] = [height, width];
        break;
      case 'resize':
        ({ width, height } = op);
        break;
      case 'crop':
        expect(op.x + op.width, 'crop inside the frame').toBeLessThanOrEqual(width);
        expect(op.y + op.height, 'crop inside the frame').toBeLessThanOrEqual(height);
        ({ width, height } = op);
        break;
      case 'pad':
        expect(op.x + width, 'pad around the frame').toBeLessThanOrEqual(op.width);
        expect(op.y + height, 'pad around the frame').toBeLessThanOrEqual(op.height);
        ({ width, height } = op);
        break;
      case 'border':
        width += op.width * 2;
        height += op.width * 2;
        break;
      case 'round':
        break;
    }
    sizes.push({ op: op.op, width, height });
  }
  return sizes;
}

describe('intermediate frames are bounded like the output (design §6)', () => {
  const absurd: [string, string][] = [
    ['w-16384,h-2', '16384x2'],
    ['w-2,h-16384', '2x16384'],
    ['w-16380,h-2', '16380x2'],
    ['w-16384,h-2,fo-top', '16384x2'],
    ['w-16384,h-2,fo-bottom_right', '16384x2'],
  ];
  test.each(absurd)(
    '%s on 1280x720 crops the region it shows, then scales only that, to %s',
    (tr, expected) => {
      for (const options of [VIDEO, STILL]) {
        const result = plan(tr, HD, { ...options, maxOutputPixels: MAX_OUTPUT_PIXELS });
        expect(`${result.width}x${result.height}`).toBe(expected);
        expect(result.ops.map((op) => op.op)).toEqual(['crop', 'resize']);
        for (const frame of frameSizes(HD, result.ops)) {
          expect(frame.width * frame.height).toBeLessThanOrEqual(HD.width * HD.height);
        }
      }
    },
  );

  test('w-16384,h-2 shows a middle row of the source; fo moves it', () => {
    expect(plan('w-16384,h-2', HD, STILL).ops[0]).toEqual({
      op: 'crop',
      x: 0,
      y: 359,
      width: 1280,
      height: 1,
    });
    expect(plan('w-16384,h-2,fo-top', HD, STILL).ops[0]).toMatchObject({ y: 0 });
    expect(plan('w-16384,h-2,fo-bottom', HD, STILL).ops[0]).toMatchObject({ y: 719 });
    expect(plan('w-2,h-16384,fo-right', HD).ops[0]).toEqual({
      op: 'crop',
      x: 1278,
      y: 0,
      width: 2,
      height: 720,
    });
  });

  test('a downscale still scales first, so the frame shrinks before it is cut', () => {
    expect(plan('w-400,h-400').ops.map((op) => op.op)).toEqual(['resize', 'crop']);
  });

  test('an upscale cuts first: only the shown region is enlarged', () => {
    expect(plan('w-2560,h-400').ops).toEqual([
      { op: 'crop', x: 0, y: 260, width: 1280, height: 200 },
      { op: 'resize', width: 2560, height: 400 },
    ]);
  });

  test('a side past what encoders take is a 422 naming the parameters, whatever makes it', () => {
    // h-1 with a 99999:1 ratio is a 99999x1 frame: few pixels, but no encoder writes it.
    expect(() => plan('h-1,ar-99999-1', HD, STILL)).toThrow(UnprocessableError);
    expect(() => plan('h-1,ar-99999-1', HD, STILL)).toThrow(/'h', 'ar'/);
    expect(() => plan('w-16384,h-2,b-10_FFFFFF', HD, STILL)).toThrow(/'w', 'h', 'b'.*16384/);
    // WebP stores sides in 14 bits.
    expect(() => plan('w-16384,h-2,f-webp', HD, STILL)).toThrow(/'f-webp'/);
    expect(size('w-16383,h-2,f-webp', HD, STILL)).toBe('16383x2');
  });

  test('an output over the pixel limit names the parameters that ask for it', () => {
    const options = { ...VIDEO, maxOutputPixels: MAX_OUTPUT_PIXELS };
    expect(() => plan('w-16384,h-2,c-at_least', HD, options)).toThrow(
      /16384x9216 output asked for by 'w', 'h', 'c' .*limit is 8294400/,
    );
  });

  const dimension = fc.oneof(
    fc.integer({ min: 1, max: 16384 }).map(String),
    fc.integer({ min: 1, max: 99 }).map((n) => `0.${String(n).padStart(2, '0')}`),
    fc.constantFrom('iw_div_2', 'ih_mul_3', 'iw_mul_20', 'ih_div_7'),
  );
  const transformation = fc
    .record(
      {
        w: dimension,
        h: dimension,
        ar: fc.tuple(fc.integer({ min: 1, max: 99999 }), fc.integer({ min: 1, max: 99999 })),
        c: fc.constantFrom('maintain_ratio', 'force', 'at_max', 'at_least'),
        cm: fc.constantFrom('pad_resize', 'extract', 'pad_extract'),
        fo: fc.constantFrom('center', 'top', 'left', 'bottom', 'right', 'top_left', 'bottom_right'),
        b: fc.integer({ min: 1, max: 1000 }),
        r: fc.oneof(fc.integer({ min: 1, max: 5000 }).map(String), fc.constant('max')),
        rt: fc.constantFrom(90, 180, 270),
        f: fc.constantFrom('jpg', 'webp'),
      },
      { requiredKeys: [] },
    )
    .map((t) => {
      const parts: string[] = [];
      if (t.w) parts.push(`w-${t.w}`);
      if (t.h) parts.push(`h-${t.h}`);
      if (t.ar) parts.push(`ar-${t.ar[0]}-${t.ar[1]}`);
      if (t.c) parts.push(`c-${t.c}`);
      if (t.cm) parts.push(`cm-${t.cm}`);
      if (t.fo) parts.push(`fo-${t.fo}`);
      if (t.b) parts.push(`b-${t.b}_FF0000`);
      if (t.r) parts.push(`r-${t.r}`);
      if (t.rt) parts.push(`rt-${t.rt}`);
      if (t.f) parts.push(`f-${t.f}`);
      return parts.join(',') || 'q-50';
    });
  const source = fc
    .record({ width: fc.integer({ min: 1, max: 4096 }), height: fc.integer({ min: 1, max: 4096 }) })
    .filter(({ width, height }) => width * height <= MAX_SOURCE_PIXELS);

  test('every frame an op makes is within the output limit (or the source, which is decoded anyway), or the plan is a typed 4xx', () => {
    fc.assert(
      fc.property(
        transformation,
        source,
        fc.boolean(),
        fc.constantFrom(MAX_OUTPUT_PIXELS, 640 * 360, 100_000),
        (tr, src, even, maxOutputPixels) => {
          let result: GeometryPlan;
          try {
            result = planGeometry(parseTransformation(tr, {}), src, {
              even,
              defaultBackground: '000000',
              maxOutputPixels,
            });
          } catch (error) {
            expect(error).toBeInstanceOf(ProxyError);
            const status = (error as ProxyError).status;
            expect(status >= 400 && status < 500, `${tr}: ${status}`).toBe(true);
            return;
          }
          // The decoded frame is the source itself (held to MAX_SOURCE_PIXELS before planning);
          // no op may make a frame larger than both it and the output limit.
          const bound = Math.max(maxOutputPixels, src.width * src.height);
          const sizes = frameSizes(src, result.ops);
          for (const frame of sizes) {
            expect(
              frame.width * frame.height,
              `${tr} on ${src.width}x${src.height}: ${frame.op}`,
            ).toBeLessThanOrEqual(bound);
            expect(Math.max(frame.width, frame.height)).toBeLessThanOrEqual(
              Math.max(16384, src.width, src.height),
            );
          }
          if (even) {
            // yuv420p: every size and offset ffmpeg is given is even, or it shifts the picture.
            for (const op of result.ops) {
              if (op.op === 'crop' || op.op === 'resize' || op.op === 'pad')
                expect([op.width % 2, op.height % 2], `${tr}: ${op.op}`).toEqual([0, 0]);
              if (op.op === 'crop' || op.op === 'pad') expect([op.x % 2, op.y % 2]).toEqual([0, 0]);
            }
          }
          const last = sizes.at(-1) ?? src;
          expect(`${last.width}x${last.height}`).toBe(`${result.width}x${result.height}`);
          expect(result.width * result.height).toBeLessThanOrEqual(maxOutputPixels);
        },
      ),
      { numRuns: Number(process.env.GEOMETRY_RUNS ?? 5000) },
    );
  });
});
