import { describe, expect, test } from 'vitest';
import { BadRequestError, InvalidParameterError, type ProxyError } from '../errors.js';
import { parseTransformation, serializeParams } from './tr.js';
import type { TransformParams } from './types.js';

const parse = (tr: string, named: Record<string, string> = {}) => parseTransformation(tr, named);

/** Runs `fn`, asserts it threw a 400 ProxyError, and returns it for further checks. */
function rejection(fn: () => unknown): BadRequestError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(BadRequestError);
    expect((error as ProxyError).status).toBe(400);
    return error as BadRequestError;
  }
  throw new Error('expected a 400, but the call returned');
}

function rejects(
  tr: string,
  param: string,
  message: RegExp | string,
  named: Record<string, string> = {},
): void {
  const error = rejection(() => parse(tr, named));
  expect(error.param).toBe(param);
  expect(error.message).toMatch(message);
}

describe('parseTransformation: grammar', () => {
  test('an empty string means no parameters', () => {
    expect(parse('')).toEqual({});
  });

  test('steps separated by ":" merge into one parameter set', () => {
    expect(parse('w-300,h-200:rt-90')).toEqual({
      w: { kind: 'px', value: 300 },
      h: { kind: 'px', value: 200 },
      rt: 90,
    });
  });

  test('key and value split at the first "-" only', () => {
    expect(parse('ar-16-9,w-300').ar).toEqual({ w: 16, h: 9 });
  });

  test.each([
    ['w-300,,h-200', 'tr', /Empty parameter/],
    ['w-300::h-200', 'tr', /Empty transformation step/],
    ['w-300:', 'tr', /Empty transformation step/],
    [',w-300', 'tr', /Empty parameter/],
    ['-300', 'tr', /no name/],
  ])('%s is rejected', (tr, param, message) => rejects(tr, param, message));

  test('an unknown key is named in the error', () => {
    rejects('w-300,zz-1', 'zz', "Unknown transformation parameter 'zz'");
    rejects('e-grayscale', 'e', "Unknown transformation parameter 'e'");
  });

  test('prototype property names are not parameters', () => {
    rejects('__proto__-1', '__proto__', /Unknown transformation parameter/);
    rejects('constructor-x', 'constructor', /Unknown transformation parameter/);
  });

  test('a key without a value is an empty value', () => {
    const error = rejection(() => parse('w'));
    expect(error).toBeInstanceOf(InvalidParameterError);
    expect(error.message).toBe(
      "Expected an integer from 1 to 16384, a fraction between 0 and 1, or an expression such as iw_div_2 for parameter 'w' but received ''",
    );
    rejects('q-', 'q', "Expected an integer from 1 to 100 for parameter 'q' but received ''");
  });

  test('the same key in two steps, or twice in one, is a 400 naming the key', () => {
    rejects('w-300:w-200', 'w', "Parameter 'w' is given more than once");
    rejects('q-50,q-50', 'q', "Parameter 'q' is given more than once");
  });

  test('very long values are clipped in messages', () => {
    const error = rejection(() => parse(`w-${'9'.repeat(500)}`));
    expect(error.message.length).toBeLessThan(250);
  });

  test('an overlong tr string is refused', () => {
    rejects(`w-1${',q-1'.repeat(1000)}`, 'tr', /longer than/);
  });
});

describe('parseTransformation: each parameter', () => {
  test.each<[string, TransformParams]>([
    ['w-300', { w: { kind: 'px', value: 300 } }],
    ['w-0300', { w: { kind: 'px', value: 300 } }],
    ['w-16384', { w: { kind: 'px', value: 16384 } }],
    ['h-1', { h: { kind: 'px', value: 1 } }],
    ['w-0.5', { w: { kind: 'fraction', value: 0.5 } }],
    ['h-.25', { h: { kind: 'fraction', value: 0.25 } }],
    ['w-iw_div_2', { w: { kind: 'expr', operands: ['iw', 2], operators: ['div'] } }],
    ['h-ih_mul_0.5_add_10', { h: { kind: 'expr', operands: ['ih', 0.5, 10], operators: ['mul', 'add'] } }],
    ['w-iw', { w: { kind: 'expr', operands: ['iw'], operators: [] } }],
    ['h-iar_mul_100', { h: { kind: 'expr', operands: ['iar', 100], operators: ['mul'] } }],
  ])('%s', (tr, expected) => {
    expect(parse(tr)).toEqual(expected);
  });

  test.each([
    ['w-0', 'w', /Expected an integer from 1 to 16384 for parameter 'w' but received '0'/],
    ['w-16385', 'w', /received '16385'/],
    ['h-1.5', 'h', /fraction between 0 and 1.*received '1.5'/],
    ['h-1.0', 'h', /received '1.0'/],
    ['w-0.0', 'w', /received '0.0'/],
    ['w--5', 'w', /received '-5'/],
    ['w-300px', 'w', /received '300px'/],
    ['w-1e3', 'w', /received '1e3'/],
    ['w-0.1234567', 'w', /received '0.1234567'/],
    ['w-iw_div', 'w', /expression.*received 'iw_div'/],
    ['w-iw_plus_2', 'w', /received 'iw_plus_2'/],
    ['w-idu_mul_2', 'w', "Variable 'idu' cannot be used in parameter 'w' (allowed: iw, ih, iar)"],
    ['h-ih__2', 'h', /received 'ih__2'/],
  ])('%s is rejected', (tr, param, message) => rejects(tr, param, message));

  test('ar takes two positive numbers', () => {
    expect(parse('ar-4.5-3,h-100').ar).toEqual({ w: 4.5, h: 3 });
    rejects(
      'ar-16,w-1',
      'ar',
      "Expected two positive numbers W-H, e.g. 16-9 for parameter 'ar' but received '16'",
    );
    rejects('ar-16-9-1,w-1', 'ar', /received '16-9-1'/);
    rejects('ar-0-9,w-1', 'ar', /received '0-9'/);
    rejects('ar-a-b,w-1', 'ar', /received 'a-b'/);
  });

  test.each([
    ['c', ['maintain_ratio', 'force', 'at_max', 'at_least']],
    [
      'fo',
      ['center', 'top', 'left', 'bottom', 'right', 'top_left', 'top_right', 'bottom_left', 'bottom_right'],
    ],
    ['vc', ['h264', 'vp9', 'av1', 'none']],
    ['ac', ['aac', 'opus', 'none']],
    ['f', ['mp4', 'webm', 'auto', 'orig', 'jpg', 'png', 'webp', 'avif']],
  ])('enumeration %s accepts exactly its values', (key, values) => {
    for (const value of values) expect(parse(`${key}-${value}`)).toEqual({ [key]: value });
    rejects(
      `${key}-nope`,
      key,
      `Expected one of ${values.join(', ')} for parameter '${key}' but received 'nope'`,
    );
    rejects(`${key}-${values[0]!.toUpperCase()}`, key, /Expected one of/);
  });

  test('cm values need w or h', () => {
    for (const mode of ['pad_resize', 'extract', 'pad_extract']) {
      expect(parse(`cm-${mode},w-100`).cm).toBe(mode);
      rejects(`cm-${mode}`, 'cm', `cm-${mode} needs w or h`);
    }
    rejects('cm-crop,w-1', 'cm', /Expected one of pad_resize, extract, pad_extract/);
  });

  test('f-jpeg is an alias of jpg', () => {
    expect(parse('f-jpeg')).toEqual({ f: 'jpg' });
    expect(serializeParams(parse('f-jpeg'))).toBe('f-jpg');
  });

  test('bg is 6 hex digits, normalised to upper case', () => {
    expect(parse('bg-ff00Aa')).toEqual({ bg: 'FF00AA' });
    rejects('bg-fff', 'bg', "Expected a colour as 6 hex digits RRGGBB for parameter 'bg' but received 'fff'");
    rejects('bg-GG0000', 'bg', /received 'GG0000'/);
    rejects('bg-#ff0000', 'bg', /received '#ff0000'/);
  });

  test('b is WIDTH_RRGGBB', () => {
    expect(parse('b-5_ffffff')).toEqual({ b: { width: 5, color: 'FFFFFF' } });
    rejects('b-5', 'b', /Expected a border as WIDTH_RRGGBB.*received '5'/);
    rejects('b-0_FFFFFF', 'b', "Expected an integer from 1 to 1000 for parameter 'b' but received '0'");
    rejects('b-5_FFF', 'b', /6 hex digits.*received 'FFF'/);
    rejects('b-5_FFFFFF_1', 'b', /received '5_FFFFFF_1'/);
  });

  test('r is a positive integer or max', () => {
    expect(parse('r-20')).toEqual({ r: 20 });
    expect(parse('r-max')).toEqual({ r: 'max' });
    rejects('r-0', 'r', /received '0'/);
    rejects('r-round', 'r', /received 'round'/);
  });

  test('rt is a right angle; 360 becomes 0', () => {
    for (const angle of [0, 90, 180, 270]) expect(parse(`rt-${angle}`)).toEqual({ rt: angle });
    expect(parse('rt-360')).toEqual({ rt: 0 });
    rejects('rt-45', 'rt', "Expected one of 0, 90, 180, 270, 360 for parameter 'rt' but received '45'");
    rejects('rt-auto', 'rt', /received 'auto'/);
  });

  test('q is 1..100', () => {
    expect(parse('q-1')).toEqual({ q: 1 });
    expect(parse('q-100')).toEqual({ q: 100 });
    rejects('q-0', 'q', "Expected an integer from 1 to 100 for parameter 'q' but received '0'");
    rejects('q-101', 'q', /received '101'/);
    rejects('q-50.5', 'q', /received '50.5'/);
  });

  test('so, eo and du take seconds with up to 2 decimals', () => {
    expect(parse('so-0')).toEqual({ so: { kind: 'seconds', value: 0 } });
    expect(parse('so-5.25,eo-10')).toEqual({
      so: { kind: 'seconds', value: 5.25 },
      eo: { kind: 'seconds', value: 10 },
    });
    expect(parse('du-2.5')).toEqual({ du: { kind: 'seconds', value: 2.5 } });
    rejects(
      'so-5.255',
      'so',
      "Expected non-negative seconds with at most 2 decimals, or an expression over idu for parameter 'so' but received '5.255'",
    );
    rejects('so--1', 'so', /received '-1'/);
    rejects('eo-0', 'eo', /Expected positive seconds.*received '0'/);
    rejects('du-0.00', 'du', /Expected positive seconds.*received '0.00'/);
    rejects('du-1s', 'du', /received '1s'/);
  });

  test('so, eo and du take expressions over idu only', () => {
    expect(parse('so-idu_mul_0.5')).toEqual({
      so: { kind: 'expr', operands: ['idu', 0.5], operators: ['mul'] },
    });
    expect(parse('du-idu_div_4').du).toEqual({ kind: 'expr', operands: ['idu', 4], operators: ['div'] });
    rejects('so-iw_div_2', 'so', "Variable 'iw' cannot be used in parameter 'so' (allowed: idu)");
  });

  test('sr is a ladder of known heights, sorted and de-duplicated', () => {
    expect(parse('sr-720_240_360_240')).toEqual({ sr: [240, 360, 720] });
    expect(parse('sr-2160')).toEqual({ sr: [2160] });
    rejects(
      'sr-240_300',
      'sr',
      /Expected heights from 240, 360, 480, 720, 1080, 1440, 2160.*received '240_300'/,
    );
    rejects('sr-240__360', 'sr', /received '240__360'/);
    rejects('sr-', 'sr', /received ''/);
    rejects('sr-hd', 'sr', /received 'hd'/);
    expect(parse('sr-0240')).toEqual({ sr: [240] });
  });

  test('orig accepts true only', () => {
    expect(parse('orig-true')).toEqual({ orig: true });
    rejects('orig-false', 'orig', "Expected true for parameter 'orig' but received 'false'");
  });
});

describe('parseTransformation: combinations', () => {
  test('eo together with du', () => {
    rejects('eo-5,du-2', 'eo', /eo and du cannot be used together/);
  });

  test('so must be before eo when both are numbers', () => {
    rejects('so-10,eo-5', 'eo', 'eo (5) must be greater than so (10)');
    rejects('so-5,eo-5', 'eo', /must be greater/);
    expect(parse('so-5,eo-5.01').eo).toEqual({ kind: 'seconds', value: 5.01 });
    // With an expression the order is only known once the duration is.
    expect(parse('so-10,eo-idu_div_2').so).toEqual({ kind: 'seconds', value: 10 });
  });

  test('orig-true stands alone', () => {
    rejects('orig-true,w-300', 'orig', 'orig-true cannot be combined with other parameters (w)');
    rejects('orig-true:f-mp4', 'orig', /\(f\)/);
  });

  test('vc-none with ac-none', () => {
    rejects('vc-none,ac-none', 'vc', /vc-none with ac-none/);
  });

  test.each([
    'f-mp4,vc-h264,ac-aac',
    'f-mp4,vc-av1,ac-aac',
    'f-mp4,vc-none,ac-aac',
    'f-mp4,vc-h264,ac-none',
    'f-webm,vc-vp9,ac-opus',
    'f-webm,vc-av1,ac-opus',
    'f-webm,vc-none,ac-opus',
    'f-webm,vc-vp9,ac-none',
    'vc-av1,ac-opus',
    'vc-av1,ac-aac',
    'f-auto,vc-h264',
  ])('valid codec combination %s', (tr) => {
    expect(() => parse(tr)).not.toThrow();
  });

  test.each([
    ['f-webm,vc-h264', 'vc', 'vc-h264 cannot be delivered as f-webm'],
    ['f-mp4,vc-vp9', 'vc', 'vc-vp9 cannot be delivered as f-mp4'],
    ['f-mp4,ac-opus', 'ac', 'ac-opus cannot be delivered as f-mp4'],
    ['f-webm,ac-aac', 'ac', 'ac-aac cannot be delivered as f-webm'],
    ['vc-h264,ac-opus', 'ac', 'vc-h264 and ac-opus share no output container'],
    ['vc-vp9,ac-aac', 'ac', 'vc-vp9 and ac-aac share no output container'],
  ])('invalid codec combination %s', (tr, param, message) => rejects(tr, param, message));

  test('ar needs exactly one of w and h', () => {
    rejects('ar-16-9', 'ar', /ar needs exactly one of w or h/);
    rejects('ar-16-9,w-100,h-100', 'ar', /ar needs exactly one of w or h/);
  });
});

describe('parseTransformation: named transformations', () => {
  const named = {
    small: 'w-320,h-180',
    rotated: 'n-small:rt-90',
    loop: 'n-loop2,q-50',
    loop2: 'n-loop',
    self: 'n-self',
    'my-preset': 'q-70',
    empty: '',
  };

  test('n-NAME expands to the configured string', () => {
    expect(parse('n-small', named)).toEqual(parse('w-320,h-180'));
    expect(parse('n-small,q-80', named)).toEqual(parse('w-320,h-180,q-80'));
  });

  test('named transformations may chain and refer to others', () => {
    expect(parse('n-rotated', named)).toEqual(parse('w-320,h-180,rt-90'));
  });

  test('names may contain "-" since the split is at the first one', () => {
    expect(parse('n-my-preset', named)).toEqual({ q: 70 });
  });

  test('an empty definition adds nothing', () => {
    expect(parse('n-empty,w-10', named)).toEqual({ w: { kind: 'px', value: 10 } });
  });

  test('a key given directly and through a name is a duplicate', () => {
    rejects('n-small,w-100', 'w', "Parameter 'w' is given more than once", named);
  });

  test('cycles are a 400', () => {
    rejects('n-self', 'n', "Named transformation 'self' refers to itself (self -> self)", named);
    rejects('n-loop', 'n', /loop -> loop2 -> loop/, named);
  });

  test('unknown names, empty names and prototype names are a 400', () => {
    rejects('n-missing', 'n', "Unknown named transformation 'missing' in parameter 'n'", named);
    rejects('n-', 'n', /Expected the name of a configured named transformation/, named);
    rejects('n-toString', 'n', /Unknown named transformation 'toString'/, named);
    rejects('n-__proto__', 'n', /Unknown named transformation/, named);
  });

  test('nesting is depth-limited', () => {
    const deep: Record<string, string> = {};
    for (let level = 0; level < 12; level++) deep[`l${level}`] = `n-l${level + 1}`;
    deep.l12 = 'q-1';
    rejects('n-l0', 'n', /deeper than 8 levels/, deep);
    expect(parse('n-l6', deep)).toEqual({ q: 1 });
  });

  test('names that fan out are bounded', () => {
    const fan: Record<string, string> = {};
    for (let level = 0; level < 6; level++)
      fan[`f${level}`] = `n-f${level + 1},n-f${level + 1},n-f${level + 1}`;
    fan.f6 = 'q-1';
    rejects('n-f0', 'tr', /expands to more than 256 parameters/, fan);
  });

  test('an error inside a definition still names the parameter', () => {
    rejects('n-bad', 'q', /received '500'/, { bad: 'q-500' });
  });
});

describe('serializeParams', () => {
  test('equivalent URLs give one canonical string', () => {
    const variants = ['h-200:w-300,rt-360', 'w-0300,h-200,rt-0', 'rt-0:h-200:w-300'];
    const canonical = variants.map((tr) => serializeParams(parse(tr)));
    expect(new Set(canonical)).toEqual(new Set(['w-300,h-200,rt-0']));
  });

  test('keys come out in the registry order, values normalised', () => {
    const params = parse('sr-720_240,du-2.50,so-1.10,bg-abcdef');
    expect(serializeParams(params)).toBe('bg-ABCDEF,so-1.1,du-2.5,sr-240_720');
  });

  test('expressions are written back with normalised numbers', () => {
    expect(serializeParams(parse('w-iw_div_02.50'))).toBe('w-iw_div_2.5');
  });

  test('an empty parameter set serialises to the empty string', () => {
    expect(serializeParams({})).toBe('');
  });

  test('every kind of value survives a round trip', () => {
    const tr =
      'w-iw_mul_0.5_sub_1,h-0.75,c-at_max,fo-top_left,bg-00FF00,b-3_123ABC,r-max,rt-270,q-80,f-webm,vc-vp9,ac-opus,so-1.5,du-idu_sub_1';
    const params = parse(tr);
    expect(serializeParams(params)).toBe(tr);
    expect(parse(serializeParams(params))).toEqual(params);
  });
});
