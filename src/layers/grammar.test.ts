import { buildSrc } from '@imagekit/javascript';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { BadRequestError } from '../errors.js';
import { parseRequestUrl } from '../url/request.js';
import { parseTransformation, serializeParams } from '../url/tr.js';

const parse = (tr: string) => parseTransformation(tr, {});

function rejects(tr: string, param: string, message?: RegExp): void {
  try {
    parse(tr);
  } catch (error) {
    expect(error).toBeInstanceOf(BadRequestError);
    expect((error as BadRequestError).param).toBe(param);
    if (message) expect((error as Error).message).toMatch(message);
    return;
  }
  throw new Error(`expected a 400 for ${tr}`);
}

/** What the official SDK writes for a transformation, parsed as the proxy parses requests. */
function viaSdk(transformation: unknown[]): ReturnType<typeof parseRequestUrl> {
  const url = new URL(
    buildSrc({ urlEndpoint: 'http://proxy.test', src: '/v/a.mp4', transformation: transformation as never }),
  );
  return parseRequestUrl(url.pathname, url.search, { named: {} });
}

describe('layer grammar', () => {
  test('an image layer with position, timing and its own transformations', () => {
    const p = parse('w-640,l-image,i-logos@@logo.png,lx-N20,ly-10,lso-1,leo-3.5,w-100,rt-90,al-5,l-end');
    expect(p.w).toEqual({ kind: 'px', value: 640 });
    expect(p.layers).toEqual([
      {
        type: 'image',
        input: { kind: 'path', path: 'logos/logo.png' },
        lx: { kind: 'px', value: 20, fromEnd: true },
        ly: { kind: 'px', value: 10, fromEnd: false },
        lso: { kind: 'seconds', value: 1 },
        leo: { kind: 'seconds', value: 3.5 },
        w: { kind: 'px', value: 100 },
        rt: 90,
        al: 5,
      },
    ]);
  });

  test('leo wins over ldu; ie wins over i', () => {
    const p = parse(`l-image,i-a.png,ie-${Buffer.from('b.png').toString('base64')},lso-1,ldu-2,leo-4,l-end`);
    expect(p.layers?.[0]?.input).toEqual({ kind: 'path', path: 'b.png' });
    expect(p.layers?.[0]?.ldu).toBeUndefined();
    expect(p.layers?.[0]?.leo).toEqual({ kind: 'seconds', value: 4 });
  });

  test('expressions in positions and sizes', () => {
    const p = parse('l-image,i-logo.png,lx-bw_div_2,ly-bh_sub_ch,w-bw_mul_0.2,l-end');
    expect(p.layers?.[0]?.lx).toEqual({ kind: 'expr', operands: ['bw', 2], operators: ['div'] });
    expect(p.layers?.[0]?.ly).toEqual({ kind: 'expr', operands: ['bh', 'ch'], operators: ['sub'] });
    rejects('l-image,i-logo.png,w-cw_mul_2,l-end', 'w', /cw/);
    rejects('l-image,i-logo.png,lso-iw,l-end', 'lso');
  });

  test('a solid block needs w, h and bg; text and subtitle options', () => {
    expect(parse('l-image,i-ik_canvas,bg-FF000050,w-100,h-bh_div_4,l-end').layers?.[0]).toMatchObject({
      input: { kind: 'canvas' },
      bg: { rgb: 'FF0000', opacity: 0.5 },
    });
    rejects('l-image,i-ik_canvas,bg-FF0000,l-end', 'w');
    rejects('l-image,i-ik_canvas,w-10,h-10,l-end', 'bg');
    expect(
      parse('l-text,i-Hello%20world,fs-40,ff-dejavuserif,co-yellow,bg-00000080,pa-10,tg-b_i,l-end')
        .layers?.[0],
    ).toMatchObject({
      input: { kind: 'text', text: 'Hello world' },
      fs: 40,
      ff: 'DejaVuSerif',
      co: { rgb: 'FFFF00', opacity: 1 },
      pa: [10],
      tg: { bold: true, italic: true },
    });
    expect(
      parse('l-subtitles,i-subs@@a.srt,fs-30,color-FFFFFF,fol-2_000000,fsh-333333_3,l-end').layers?.[0],
    ).toMatchObject({
      co: { rgb: 'FFFFFF', opacity: 1 },
      fol: { width: 2, color: { rgb: '000000', opacity: 1 } },
      fsh: { width: 3, color: { rgb: '333333', opacity: 1 } },
    });
  });

  test('every error is a 400 naming the parameter', () => {
    rejects('l-image,i-a.png', 'l', /not closed/);
    rejects('w-10,l-end', 'l', /without an open layer/);
    rejects('l-gif,i-a.png,l-end', 'l');
    rejects('l-image,l-end', 'i', /no input/);
    rejects('l-image,i-a.png,zz-1,l-end', 'zz');
    rejects('l-image,i-a.png,fs-10,l-end', 'fs', /not supported in a image layer/);
    rejects('l-subtitles,i-a.srt,lx-10,l-end', 'lx');
    rejects('l-image,i-a.png,lfo-middle,l-end', 'lfo');
    rejects('l-image,i-a.png,lso-5,leo-2,l-end', 'leo');
    rejects('l-text,i-hi,co-GGGGGG,l-end', 'co');
    rejects('l-text,i-hi,ff-Comic,l-end', 'ff');
    rejects('l-image,i-a.png,w-10,w-20,l-end', 'w');
    rejects('l-image,i-a.png,l-end,w-300', 'w', /after a layer/);
    rejects('l-image,i-..@@secret.png,l-end', 'i');
    rejects(`l-image,ie-${Buffer.from('../../etc/passwd').toString('base64')},l-end`, 'i');
    rejects(`l-image,ie-${Buffer.from('/a/./b.png').toString('base64')},l-end`, 'i');
    rejects(
      'l-image,i-a.png,l-image,i-b.png,l-image,i-c.png,l-image,i-d.png,l-end,l-end,l-end,l-end',
      'l',
      /deeper/,
    );
    rejects(`l-text,ie-${'A'.repeat(1500)},l-end`, 'ie', /longer than/);
    rejects(`l-text,ie-${'A'.repeat(10_000_000)},l-end`, 'tr', /longer than/);
    rejects(`l-text,ie-${Buffer.from('x'.repeat(501)).toString('base64')},l-end`, 'i', /longer than 500/);
    rejects('l-text,ie-%%%%,l-end', 'ie');
    rejects('orig-true,l-image,i-a.png,l-end', 'orig');
    rejects('l-text,i-hi,pa-10_20,l-end', 'pa');
  });

  test('nested layers up to three levels', () => {
    const p = parse('l-image,i-a.png,l-image,i-b.png,l-text,i-hi,l-end,l-end,l-end');
    expect(p.layers?.[0]?.layers?.[0]?.layers?.[0]?.input).toEqual({ kind: 'text', text: 'hi' });
  });

  test('the canonical form parses back to the same layers, and equal spellings share it', () => {
    const spellings = [
      'l-image,i-logo.png,lfo-bottom_right,l-end:sr-240_360',
      'sr-360_240:l-image,lfo-bottom_right,i-logo.png,l-end',
    ];
    const canon = spellings.map((tr) => serializeParams(parse(tr)));
    expect(canon[0]).toBe(canon[1]);
    expect(parse(canon[0]!)).toEqual(parse(spellings[0]!));
  });

  test('property: any text survives the canonical round trip literally', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 80 }), (text) => {
        fc.pre(
          !/[\0-\x08\x0B-\x1F\x7F]/.test(text) &&
            !text.includes('\uFFFD') &&
            Buffer.from(text).toString('utf8') === text,
        );
        const tr = `l-text,ie-${Buffer.from(text).toString('base64')},l-end`;
        const p = parse(tr);
        expect(p.layers?.[0]?.input).toEqual({ kind: 'text', text });
        expect(parse(serializeParams(p))).toEqual(p);
      }),
      { numRuns: 300 },
    );
  });
});

describe('URLs built by @imagekit/javascript parse', () => {
  test('every overlay type', () => {
    const position = { x: 10, y: 'bh_sub_ch' };
    const timing = { start: 1, end: 3 };
    const cases: unknown[] = [
      {
        overlay: {
          type: 'image',
          input: '/logos/logo.png',
          position,
          timing,
          transformation: [{ width: 80 }],
        },
      },
      {
        overlay: {
          type: 'text',
          text: 'Hello, world: 100% "quoted" \\ new',
          position: { focus: 'bottom' },
          timing: { start: 0.5, duration: 2 },
          transformation: [
            { fontSize: 32, fontColor: 'FFFFFF', background: '00000080', padding: 8, typography: 'b' },
          ],
        },
      },
      {
        overlay: {
          type: 'video',
          input: 'clips/pip.mp4',
          position: { focus: 'top_right' },
          transformation: [{ width: 160 }],
        },
      },
      {
        overlay: {
          type: 'subtitle',
          input: 'subs/a.en.srt',
          transformation: [
            {
              fontSize: 24,
              color: 'FFFF00',
              fontOutline: '2_000000',
              fontShadow: '000000_2',
              typography: 'i',
            },
          ],
        },
      },
      {
        overlay: {
          type: 'solidColor',
          color: 'FF0000',
          position,
          transformation: [{ width: 50, height: 40, alpha: 5 }],
        },
      },
    ];
    const types = cases.map((overlay) => viaSdk([{ width: 640 }, overlay]).params.layers?.[0]);
    expect(types.map((l) => l?.type)).toEqual(['image', 'text', 'video', 'subtitles', 'image']);
    expect(types[1]?.input).toEqual({ kind: 'text', text: 'Hello, world: 100% "quoted" \\ new' });
    expect(types[4]?.input).toEqual({ kind: 'canvas' });
    expect(types[0]?.input).toEqual({ kind: 'path', path: 'logos/logo.png' });
  });
});

describe('canonical form, by property', () => {
  const position = fc.record(
    {
      lx: fc.oneof(
        fc.nat(2000).map(String),
        fc.nat(500).map((n) => `N${n}`),
        fc.constant('bw_div_2_sub_cw'),
      ),
      ly: fc.oneof(fc.nat(2000).map(String), fc.constant('bh_mul_0.25')),
      lfo: fc.constantFrom('center', 'top_left', 'bottom_right', 'left'),
      lso: fc.nat(99).map((n) => `${n / 4}`),
      ldu: fc.integer({ min: 1, max: 99 }).map(String),
    },
    { requiredKeys: [] },
  );
  const image = fc.record(
    {
      w: fc.integer({ min: 1, max: 4000 }).map(String),
      h: fc.constantFrom('bh_div_4', '90'),
      rt: fc.constantFrom('0', '90', '180', '270', '360'),
      b: fc.constantFrom('2_ff0000', '5_00FF0050'),
      r: fc.constantFrom('max', '12'),
      al: fc.integer({ min: 1, max: 9 }).map(String),
    },
    { requiredKeys: [] },
  );
  const text = fc.record(
    {
      fs: fc.integer({ min: 1, max: 500 }).map(String),
      ff: fc.constantFrom('DejaVuSans', 'dejavuserif', 'DEJAVUSANSMONO'),
      co: fc.constantFrom('white', 'FFFF00', 'ffaa0080'),
      bg: fc.constantFrom('000000', '00000050'),
      tg: fc.constantFrom('b', 'i', 'b_i', 'i_b'),
      lh: fc.integer({ min: 1, max: 100 }).map(String),
    },
    { requiredKeys: [] },
  );
  const layer = fc.oneof(
    fc.tuple(fc.constant('l-image,i-logos@@a.png'), position, image),
    fc.tuple(fc.constant('l-text,i-Hello%20there'), position, text),
    fc.tuple(fc.constant('l-image,i-ik_canvas,w-10,h-20,bg-FF0000'), position, fc.constant({})),
  );
  const write = ([head, ...parts]: readonly [string, ...Record<string, string>[]]) =>
    [head, ...parts.flatMap((p) => Object.entries(p).map(([k, v]) => `${k}-${v}`)), 'l-end'].join(',');

  test('parse(serialize(parse(tr))) equals parse(tr) for any chain of layers', () => {
    fc.assert(
      fc.property(fc.array(layer, { minLength: 1, maxLength: 4 }), (layers) => {
        const tr = `w-640,${layers.map((l) => write(l as never)).join(':')}`;
        const parsed = parse(tr);
        expect(parse(serializeParams(parsed))).toEqual(parsed);
        expect(serializeParams(parse(serializeParams(parsed)))).toBe(serializeParams(parsed));
      }),
      { numRuns: 300 },
    );
  });
});
