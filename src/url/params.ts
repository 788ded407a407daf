import { looksLikeExpression, parseExpression, serializeExpression } from './expression.js';
import type {
  AudioCodec,
  CropMode,
  CropModeExtra,
  Dimension,
  ExprVariable,
  Focus,
  OutputFormat,
  TimeValue,
  TransformParams,
  VideoCodec,
} from './types.js';
import { decimal, hexColor, integerIn, invalid, oneOf } from './validators.js';

/** A key of `TransformParams`, i.e. a parameter the proxy understands (layers are parsed apart). */
export type ParamKey = Exclude<keyof TransformParams, 'layers'>;

/** Largest width or height in pixels a URL may ask for; larger is a typo or an attack. */
export const MAX_DIMENSION = 16384;
/** Heights an adaptive-streaming ladder (`sr`) may contain. */
export const STREAMING_HEIGHTS: readonly number[] = [240, 360, 480, 720, 1080, 1440, 2160];

/** Values of `c`. */
export const CROP_MODES: readonly CropMode[] = ['maintain_ratio', 'force', 'at_max', 'at_least'];
/** Values of `cm`. */
export const CROP_MODES_EXTRA: readonly CropModeExtra[] = ['pad_resize', 'extract', 'pad_extract'];
/** Values of `fo`. */
export const FOCUS_VALUES: readonly Focus[] = [
  'center',
  'top',
  'left',
  'bottom',
  'right',
  'top_left',
  'top_right',
  'bottom_left',
  'bottom_right',
];
/** Values of `f` (`jpeg` is read as `jpg`). */
export const OUTPUT_FORMATS: readonly OutputFormat[] = [
  'mp4',
  'webm',
  'auto',
  'orig',
  'jpg',
  'png',
  'webp',
  'avif',
];
/** Still-image formats: valid for thumbnails only. */
export const IMAGE_FORMATS: readonly OutputFormat[] = ['jpg', 'png', 'webp', 'avif'];
/** Values of `vc`; `none` drops the video (audio only). */
export const VIDEO_CODECS: readonly VideoCodec[] = ['h264', 'vp9', 'av1', 'none'];
/** Values of `ac`; `none` mutes. */
export const AUDIO_CODECS: readonly AudioCodec[] = ['aac', 'opus', 'none'];

const DIMENSION_VARIABLES: readonly ExprVariable[] = ['iw', 'ih', 'iar'];
const TIME_VARIABLES: readonly ExprVariable[] = ['idu'];
const MAX_BORDER = 1000;
const MAX_RATIO_TERM = /^\d{1,5}(\.\d{1,4})?$/;
const AR_EXPECTED = 'two positive numbers W-H, e.g. 16-9';
const BORDER_EXPECTED = `a border as WIDTH_RRGGBB, width from 1 to ${MAX_BORDER}`;
const SR_EXPECTED = `heights from ${STREAMING_HEIGHTS.join(', ')} joined by _, e.g. 240_360_720`;

/** How one parameter is read from and written to a `tr` string. */
interface ParamSpec<V> {
  /** What a valid value looks like, for "Expected ... but received ..." messages. */
  expected: string;
  parse(raw: string): V;
  serialize(value: V): string;
}

type Registry = { [K in ParamKey]: ParamSpec<NonNullable<TransformParams[K]>> };

function dimension(param: 'w' | 'h'): ParamSpec<Dimension> {
  const expected = `an integer from 1 to ${MAX_DIMENSION}, a fraction between 0 and 1, or an expression such as iw_div_2`;
  return {
    expected,
    parse(raw): Dimension {
      if (/^\d+$/.test(raw)) return { kind: 'px', value: integerIn(param, raw, 1, MAX_DIMENSION) };
      if (/^\d*\.\d{1,6}$/.test(raw)) {
        const value = Number(raw);
        if (value > 0 && value < 1) return { kind: 'fraction', value };
        return invalid(param, expected, raw);
      }
      if (looksLikeExpression(raw)) return parseExpression(param, raw, DIMENSION_VARIABLES);
      return invalid(param, expected, raw);
    },
    serialize(value) {
      return value.kind === 'expr' ? serializeExpression(value) : String(value.value);
    },
  };
}

/** `so` may be 0; `eo` and `du` must be positive, since an empty clip is never what was meant. */
function time(param: 'so' | 'eo' | 'du', allowZero: boolean): ParamSpec<TimeValue> {
  const expected = `${allowZero ? 'non-negative' : 'positive'} seconds with at most 2 decimals, or an expression over idu`;
  return {
    expected,
    parse(raw): TimeValue {
      if (looksLikeExpression(raw)) return parseExpression(param, raw, TIME_VARIABLES);
      const value = decimal(param, raw, 2, expected);
      if (!allowZero && value === 0) invalid(param, expected, raw);
      return { kind: 'seconds', value };
    },
    serialize(value) {
      return value.kind === 'expr' ? serializeExpression(value) : String(value.value);
    },
  };
}

function enumeration<T extends string>(
  param: ParamKey,
  values: readonly T[],
  aliases: Readonly<Record<string, T>> = {},
): ParamSpec<T> {
  return {
    expected: `one of ${values.join(', ')}`,
    parse: (raw) => oneOf(param, raw, values, aliases),
    serialize: (value) => value,
  };
}

/**
 * The one table of parameters: how each key is parsed, validated and written back. Its key order
 * is the canonical order of `serializeParams`.
 */
export const PARAMS: Registry = {
  w: dimension('w'),
  h: dimension('h'),
  ar: {
    expected: AR_EXPECTED,
    parse(raw) {
      const terms = raw.split('-');
      const [w, h] = terms;
      if (terms.length !== 2 || w === undefined || h === undefined) return invalid('ar', AR_EXPECTED, raw);
      if (!MAX_RATIO_TERM.test(w) || !MAX_RATIO_TERM.test(h)) return invalid('ar', AR_EXPECTED, raw);
      const ratio = { w: Number(w), h: Number(h) };
      if (ratio.w <= 0 || ratio.h <= 0) return invalid('ar', AR_EXPECTED, raw);
      return ratio;
    },
    serialize: (value) => `${value.w}-${value.h}`,
  },
  c: enumeration('c', CROP_MODES),
  cm: enumeration('cm', CROP_MODES_EXTRA),
  fo: enumeration('fo', FOCUS_VALUES),
  bg: {
    expected: 'a colour as 6 hex digits RRGGBB',
    parse: (raw) => hexColor('bg', raw),
    serialize: (value) => value,
  },
  b: {
    expected: BORDER_EXPECTED,
    parse(raw) {
      const parts = raw.split('_');
      const [width, color] = parts;
      if (parts.length !== 2 || width === undefined || color === undefined)
        return invalid('b', BORDER_EXPECTED, raw);
      return { width: integerIn('b', width, 1, MAX_BORDER), color: hexColor('b', color) };
    },
    serialize: (value) => `${value.width}_${value.color}`,
  },
  r: {
    expected: `an integer from 1 to ${MAX_DIMENSION} or max`,
    parse: (raw) => (raw === 'max' ? 'max' : integerIn('r', raw, 1, MAX_DIMENSION)),
    serialize: (value) => String(value),
  },
  rt: {
    expected: 'one of 0, 90, 180, 270, 360',
    parse(raw) {
      const angle = oneOf('rt', raw, ['0', '90', '180', '270', '360']);
      return angle === '360' ? 0 : (Number(angle) as 0 | 90 | 180 | 270);
    },
    serialize: (value) => String(value),
  },
  q: {
    expected: 'an integer from 1 to 100',
    parse: (raw) => integerIn('q', raw, 1, 100),
    serialize: (value) => String(value),
  },
  f: enumeration('f', OUTPUT_FORMATS, { jpeg: 'jpg' }),
  vc: enumeration('vc', VIDEO_CODECS),
  ac: enumeration('ac', AUDIO_CODECS),
  so: time('so', true),
  eo: time('eo', false),
  du: time('du', false),
  sr: {
    expected: SR_EXPECTED,
    parse(raw) {
      const heights = raw.split('_').map((part) => {
        if (!/^\d{1,6}$/.test(part) || !STREAMING_HEIGHTS.includes(Number(part))) {
          return invalid('sr', SR_EXPECTED, raw);
        }
        return Number(part);
      });
      return [...new Set(heights)].sort((a, b) => a - b);
    },
    serialize: (value) => value.join('_'),
  },
  orig: {
    expected: 'true',
    parse: (raw) => (raw === 'true' ? true : invalid('orig', 'true', raw)),
    serialize: () => 'true',
  },
};

/** Canonical order of keys in a serialized `tr`. */
export const PARAM_ORDER = Object.keys(PARAMS) as ParamKey[];

/** Whether `key` names a parameter in the registry (own keys only: `__proto__` is not a parameter). */
export function isParamKey(key: string): key is ParamKey {
  return Object.hasOwn(PARAMS, key);
}
