import { BadRequestError, InvalidParameterError } from '../errors.js';
import { looksLikeExpression, parseExpression, serializeExpression } from '../url/expression.js';
import { CROP_MODES, FOCUS_VALUES, MAX_DIMENSION } from '../url/params.js';
import type { ExprVariable } from '../url/types.js';
import { clip, decimal, integerIn, invalid, oneOf } from '../url/validators.js';
import { FONT_FAMILIES, fontFamily } from './fonts.js';
import type {
  Layer,
  LayerColor,
  LayerInput,
  LayerLength,
  LayerOffset,
  LayerTime,
  LayerType,
} from './types.js';

/** One `key-value` of a `tr` string as written. */
export interface RawParam {
  key: string;
  value: string;
}

/** ImageKit nests layers up to 3 levels deep. */
export const MAX_LAYER_DEPTH = 3;
/** More layers than this on one output is abuse: each one is a filter and maybe an input file. */
export const MAX_LAYERS = 8;
/** Text longer than this is not a caption or a watermark. */
export const MAX_TEXT_LENGTH = 500;
/** A decoded `ie-` value (a path or a text) longer than this is refused. */
const MAX_INPUT_LENGTH = 1024;
/** The input name of a solid-colour block. */
export const CANVAS_INPUT = 'ik_canvas';

const LAYER_TYPES: readonly LayerType[] = ['image', 'text', 'video', 'subtitles'];
const POSITION_VARIABLES: readonly ExprVariable[] = ['bw', 'bh', 'bar', 'cw', 'ch'];
const SIZE_VARIABLES: readonly ExprVariable[] = ['bw', 'bh', 'bar'];
const TIME_VARIABLES: readonly ExprVariable[] = ['bdu'];
const MAX_FONT_SIZE = 500;
const MAX_PADDING = 500;
const MAX_STROKE = 50;
/** The few colour names people type; anything else is hex. */
const COLOR_NAMES: Readonly<Record<string, string>> = {
  white: 'FFFFFF',
  black: '000000',
  red: 'FF0000',
  green: '008000',
  lime: '00FF00',
  blue: '0000FF',
  yellow: 'FFFF00',
  cyan: '00FFFF',
  magenta: 'FF00FF',
  gray: '808080',
  grey: '808080',
  orange: 'FFA500',
};
const COLOR_EXPECTED = 'a colour RRGGBB, RRGGBBAA (AA: opacity 00-99) or a name such as white';

/** Keys each layer type takes, in canonical order (besides `l` and the input). */
const COMMON_POSITION = ['lx', 'ly', 'lxc', 'lyc', 'lfo', 'lso', 'leo', 'ldu'] as const;
type LayerKey = Exclude<keyof Layer, 'type' | 'input' | 'layers'>;
const KEY_ORDER: readonly LayerKey[] = [
  ...COMMON_POSITION,
  'w',
  'h',
  'c',
  'rt',
  'b',
  'r',
  'al',
  'bg',
  'fs',
  'ff',
  'co',
  'pa',
  'ia',
  'lh',
  'tg',
  'fol',
  'fsh',
];
const ACCEPTS: Record<'image' | 'canvas' | 'text' | 'video' | 'subtitles', readonly LayerKey[]> = {
  image: [...COMMON_POSITION, 'w', 'h', 'c', 'rt', 'b', 'r', 'al'],
  canvas: [...COMMON_POSITION, 'w', 'h', 'r', 'al', 'bg'],
  text: [...COMMON_POSITION, 'w', 'al', 'bg', 'fs', 'ff', 'co', 'pa', 'ia', 'lh', 'tg'],
  video: [...COMMON_POSITION, 'w', 'h', 'c', 'rt', 'b'],
  subtitles: ['bg', 'fs', 'ff', 'co', 'tg', 'fol', 'fsh'],
};
/** Names ImageKit's SDKs write for a key (`@imagekit/javascript` 5.x writes a subtitle `color-`). */
const ALIASES: Readonly<Record<string, LayerKey>> = { color: 'co' };

function accepted(layer: Pick<Layer, 'type' | 'input'>): readonly LayerKey[] {
  return layer.type === 'image' && layer.input.kind === 'canvas' ? ACCEPTS.canvas : ACCEPTS[layer.type];
}

/** `RRGGBB`, `RRGGBBAA` or a colour name, for parameter `param`. */
function parseLayerColor(param: string, raw: string): LayerColor {
  const named = COLOR_NAMES[raw.toLowerCase()];
  if (named) return { rgb: named, opacity: 1 };
  if (/^[0-9a-fA-F]{6}$/.test(raw)) return { rgb: raw.toUpperCase(), opacity: 1 };
  if (/^[0-9a-fA-F]{6}[0-9]{2}$/.test(raw)) {
    return { rgb: raw.slice(0, 6).toUpperCase(), opacity: Number(raw.slice(6)) / 100 };
  }
  return invalid(param, COLOR_EXPECTED, raw);
}

/** The canonical text of a colour. */
function serializeLayerColor(color: LayerColor): string {
  return color.opacity >= 1
    ? color.rgb
    : `${color.rgb}${String(Math.round(color.opacity * 100)).padStart(2, '0')}`;
}

function offset(param: string, raw: string): LayerOffset {
  const fromEnd = raw.startsWith('N');
  const digits = fromEnd ? raw.slice(1) : raw;
  if (/^\d+$/.test(digits)) return { kind: 'px', value: integerIn(param, digits, 0, MAX_DIMENSION), fromEnd };
  if (!fromEnd && looksLikeExpression(raw)) return parseExpression(param, raw, POSITION_VARIABLES);
  return invalid(param, `pixels (N prefix: from the far edge) or an expression such as bw_div_2`, raw);
}

function serializeOffset(value: LayerOffset): string {
  return value.kind === 'expr' ? serializeExpression(value) : `${value.fromEnd ? 'N' : ''}${value.value}`;
}

function length(param: string, raw: string): LayerLength {
  if (/^\d+$/.test(raw)) return { kind: 'px', value: integerIn(param, raw, 1, MAX_DIMENSION) };
  if (looksLikeExpression(raw)) return parseExpression(param, raw, SIZE_VARIABLES);
  return invalid(param, `an integer from 1 to ${MAX_DIMENSION} or an expression such as bw_mul_0.2`, raw);
}

function time(param: string, raw: string, allowZero: boolean): LayerTime {
  if (looksLikeExpression(raw)) return parseExpression(param, raw, TIME_VARIABLES);
  const expected = `${allowZero ? 'non-negative' : 'positive'} seconds with at most 2 decimals, or an expression over bdu`;
  const value = decimal(param, raw, 2, expected);
  if (!allowZero && value === 0) invalid(param, expected, raw);
  return { kind: 'seconds', value };
}

function serializeValue(value: LayerTime | LayerLength): string {
  return value.kind === 'expr' ? serializeExpression(value) : String(value.value);
}

function typography(param: string, raw: string): { bold: boolean; italic: boolean } {
  const parts = raw.split('_');
  const ok =
    parts.length <= 2 && parts.every((p) => p === 'b' || p === 'i') && new Set(parts).size === parts.length;
  if (!ok) return invalid(param, 'b, i or b_i', raw);
  return { bold: parts.includes('b'), italic: parts.includes('i') };
}

/** Parses one layer parameter's value into `layer`. */
function setParam(layer: Layer, key: LayerKey, raw: string): void {
  switch (key) {
    case 'lx':
    case 'ly':
    case 'lxc':
    case 'lyc':
      layer[key] = offset(key, raw);
      return;
    case 'lfo':
      layer.lfo = oneOf(key, raw, FOCUS_VALUES);
      return;
    case 'lso':
      layer.lso = time(key, raw, true);
      return;
    case 'leo':
    case 'ldu':
      layer[key] = time(key, raw, false);
      return;
    case 'w':
    case 'h':
      layer[key] = length(key, raw);
      return;
    case 'c':
      layer.c = oneOf(key, raw, CROP_MODES);
      return;
    case 'rt': {
      const angle = oneOf(key, raw, ['0', '90', '180', '270', '360']);
      layer.rt = angle === '360' ? 0 : (Number(angle) as 0 | 90 | 180 | 270);
      return;
    }
    case 'b': {
      const [width, color, extra] = raw.split('_');
      if (width === undefined || color === undefined || extra !== undefined) {
        invalid(key, 'a border as WIDTH_RRGGBB', raw);
      }
      layer.b = { width: integerIn(key, width, 1, 100), color: parseLayerColor(key, color) };
      return;
    }
    case 'r':
      layer.r = raw === 'max' ? 'max' : integerIn(key, raw, 1, MAX_DIMENSION);
      return;
    case 'al':
      layer.al = integerIn(key, raw, 1, 9);
      return;
    case 'bg':
    case 'co':
      layer[key] = parseLayerColor(key, raw);
      return;
    case 'fs':
      layer.fs = integerIn(key, raw, 1, MAX_FONT_SIZE);
      return;
    case 'ff': {
      const family = fontFamily(raw);
      if (!family) invalid(key, `one of the installed fonts ${FONT_FAMILIES.join(', ')}`, raw);
      layer.ff = family;
      return;
    }
    case 'pa':
      // drawtext pads its box evenly; one value, so nothing asked for is left out.
      layer.pa = [integerIn(key, raw, 0, MAX_PADDING)];
      return;
    case 'ia':
      layer.ia = oneOf(key, raw, ['left', 'center', 'right'] as const);
      return;
    case 'lh':
      layer.lh = integerIn(key, raw, 1, MAX_FONT_SIZE * 2);
      return;
    case 'tg':
      layer.tg = typography(key, raw);
      return;
    case 'fol': {
      const [width, color, extra] = raw.split('_');
      if (width === undefined || color === undefined || extra !== undefined) {
        invalid(key, 'an outline as WIDTH_COLOR, e.g. 2_000000', raw);
      }
      layer.fol = { width: integerIn(key, width, 0, MAX_STROKE), color: parseLayerColor(key, color) };
      return;
    }
    case 'fsh': {
      const [color, width, extra] = raw.split('_');
      if (width === undefined || color === undefined || extra !== undefined) {
        invalid(key, 'a shadow as COLOR_WIDTH, e.g. 000000_2', raw);
      }
      layer.fsh = { color: parseLayerColor(key, color), width: integerIn(key, width, 0, MAX_STROKE) };
      return;
    }
  }
}

function serializeParam(layer: Layer, key: LayerKey): string | undefined {
  switch (key) {
    case 'lx':
    case 'ly':
    case 'lxc':
    case 'lyc':
      return layer[key] && serializeOffset(layer[key]);
    case 'lso':
    case 'leo':
    case 'ldu':
    case 'w':
    case 'h':
      return layer[key] && serializeValue(layer[key]);
    case 'lfo':
    case 'c':
    case 'ia':
      return layer[key];
    case 'rt':
    case 'r':
    case 'al':
    case 'fs':
    case 'lh':
      return layer[key] === undefined ? undefined : String(layer[key]);
    case 'ff':
      return layer.ff;
    case 'b':
      return layer.b && `${layer.b.width}_${serializeLayerColor(layer.b.color)}`;
    case 'bg':
    case 'co':
      return layer[key] && serializeLayerColor(layer[key]);
    case 'pa':
      return layer.pa?.join('_');
    case 'tg':
      return layer.tg && [layer.tg.bold ? 'b' : '', layer.tg.italic ? 'i' : ''].filter(Boolean).join('_');
    case 'fol':
      return layer.fol && `${layer.fol.width}_${serializeLayerColor(layer.fol.color)}`;
    case 'fsh':
      return layer.fsh && `${serializeLayerColor(layer.fsh.color)}_${layer.fsh.width}`;
  }
}

/** Decodes an `ie-` value: standard or URL-safe base64, percent-encoded or not. */
function decodeBase64(where: string, raw: string): string {
  if (raw.length > Math.ceil((MAX_INPUT_LENGTH * 4) / 3) + 4) {
    throw new BadRequestError(
      `The ie value of ${where} is longer than ${MAX_INPUT_LENGTH} characters decoded`,
      'ie',
    );
  }
  // A `+` in a query string arrives as a space.
  const text = raw.replace(/ /g, '+');
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(text)) {
    return invalid('ie', 'base64 (standard or URL-safe)', raw);
  }
  const decoded = Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8');
  if (decoded.includes('\uFFFD')) return invalid('ie', 'base64 of UTF-8 text', raw);
  return decoded;
}

/**
 * A layer input path as written (`@@` for `/`, a leading and trailing `/` removed), checked so it
 * can only name a file inside the origin: no empty, `.` or `..` segment, no `\` or NUL.
 */
function inputPath(where: string, raw: string): string {
  const path = raw.replace(/@@/g, '/').replace(/^\/+|\/+$/g, '');
  const segments = path.split('/');
  if (
    path === '' ||
    segments.some((s) => s === '' || s === '.' || s === '..' || /[\\\0]/.test(s) || s.startsWith('.'))
  ) {
    throw new BadRequestError(
      `The input path of ${where} must name a file inside the origin (no empty, "." or ".." segment)`,
      'i',
    );
  }
  return path;
}

function textInput(where: string, text: string): LayerInput {
  if (text === '') throw new BadRequestError(`The text of ${where} is empty`, 'i');
  if ([...text].length > MAX_TEXT_LENGTH) {
    throw new BadRequestError(`The text of ${where} is longer than ${MAX_TEXT_LENGTH} characters`, 'i');
  }
  if (/[\0-\x08\x0B-\x1F\x7F]/.test(text)) {
    throw new BadRequestError(`The text of ${where} contains control characters`, 'i');
  }
  return { kind: 'text', text };
}

/** `i-` text is percent-encoded by the SDKs; a value that does not decode is taken as written. */
function percentDecoded(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** How error messages name a layer: its type and its place in the chain. */
export function describeLayer(type: LayerType, place: string): string {
  return `the ${type} layer #${place}`;
}

interface OpenLayer {
  type: LayerType;
  place: string;
  input?: string;
  inputEncoded?: boolean;
  params: RawParam[];
  children: Layer[];
}

function buildLayer(open: OpenLayer): Layer {
  const where = describeLayer(open.type, open.place);
  const rawInput = open.input;
  if (rawInput === undefined) throw new BadRequestError(`${where} has no input (i- or ie-)`, 'i');
  let input: LayerInput;
  if (open.type === 'text') {
    input = textInput(where, open.inputEncoded ? decodeBase64(where, rawInput) : percentDecoded(rawInput));
  } else {
    const path = open.inputEncoded ? decodeBase64(where, rawInput) : rawInput;
    if (path.length > MAX_INPUT_LENGTH)
      throw new BadRequestError(`The input path of ${where} is too long`, 'i');
    input =
      open.type === 'image' && path === CANVAS_INPUT
        ? { kind: 'canvas' }
        : { kind: 'path', path: inputPath(where, path) };
  }
  const layer: Layer = { type: open.type, input };
  const allowed = accepted(layer);
  for (const { key: written, value } of open.params) {
    const key = (Object.hasOwn(ALIASES, written) ? ALIASES[written] : written) as LayerKey;
    if (!(KEY_ORDER as readonly string[]).includes(key)) {
      throw new BadRequestError(`Unknown parameter '${clip(written)}' in ${where}`, clip(written));
    }
    if (!allowed.includes(key)) {
      const kind = layer.input.kind === 'canvas' ? 'solid-colour' : layer.type;
      throw new BadRequestError(`Parameter '${key}' is not supported in a ${kind} layer`, key);
    }
    if (layer[key] !== undefined)
      throw new BadRequestError(`Parameter '${key}' is given twice in ${where}`, key);
    if (value === '') throw new InvalidParameterError(key, 'a value', '');
    setParam(layer, key, value);
  }
  if (layer.leo !== undefined) delete layer.ldu;
  if (layer.lx && layer.lxc)
    throw new BadRequestError(`lx and lxc cannot be used together in ${where}`, 'lxc');
  if (layer.ly && layer.lyc)
    throw new BadRequestError(`ly and lyc cannot be used together in ${where}`, 'lyc');
  if (layer.lso?.kind === 'seconds' && layer.leo?.kind === 'seconds' && layer.leo.value <= layer.lso.value) {
    throw new BadRequestError(
      `leo (${layer.leo.value}) must be greater than lso (${layer.lso.value}) in ${where}`,
      'leo',
    );
  }
  if (layer.input.kind === 'canvas' && (layer.w === undefined || layer.h === undefined)) {
    throw new BadRequestError(`A solid-colour block needs w and h (${where})`, 'w');
  }
  if (layer.input.kind === 'canvas' && layer.bg === undefined) {
    throw new BadRequestError(`A solid-colour block needs bg-RRGGBB (${where})`, 'bg');
  }
  if (open.children.length) {
    if (layer.type !== 'image' && layer.type !== 'video') {
      throw new BadRequestError(`A ${layer.type} layer cannot hold nested layers (${where})`, 'l');
    }
    layer.layers = open.children;
  }
  return layer;
}

/** Base parameters that shape the frame; they must come before the layers that sit on that frame. */
const FRAME_KEYS = new Set(['w', 'h', 'ar', 'c', 'cm', 'fo', 'bg', 'b', 'r', 'rt']);

/**
 * Splits a tokenized `tr` into the base's parameters and its layers. `l-<type>` opens a layer
 * and `l-end` closes it (layers nest, up to `MAX_LAYER_DEPTH`); everything between applies to the
 * layer only, across `:` too (ImageKit's SDK joins a layer's own chain with `:`). Layers sit on
 * the frame the base parameters make, so a frame-shaping base parameter after a layer is a 400.
 *
 * @throws BadRequestError naming the parameter (or `l`) at fault.
 */
export function splitLayers(tokens: readonly RawParam[]): { base: RawParam[]; layers: Layer[] } {
  const base: RawParam[] = [];
  const layers: Layer[] = [];
  const stack: OpenLayer[] = [];
  let count = 0;
  for (const token of tokens) {
    const top = stack.at(-1);
    if (token.key === 'l') {
      if (token.value === 'end') {
        if (!top) throw new BadRequestError('l-end without an open layer (l-image, l-text...)', 'l');
        stack.pop();
        const layer = buildLayer(top);
        (stack.at(-1)?.children ?? layers).push(layer);
        continue;
      }
      const type = oneOf('l', token.value, LAYER_TYPES);
      if (stack.length >= MAX_LAYER_DEPTH) {
        throw new BadRequestError(`Layers nest deeper than ${MAX_LAYER_DEPTH} levels`, 'l');
      }
      if (++count > MAX_LAYERS)
        throw new BadRequestError(`More than ${MAX_LAYERS} layers in one transformation`, 'l');
      const place = top ? `${top.place}.${top.children.length + 1}` : String(layers.length + 1);
      stack.push({ type, place, params: [], children: [] });
      continue;
    }
    if (!top) {
      if (layers.length > 0 && FRAME_KEYS.has(token.key)) {
        throw new BadRequestError(
          `Parameter '${token.key}' comes after a layer; put the base's size and shape before its layers`,
          token.key,
        );
      }
      base.push(token);
      continue;
    }
    if (token.key === 'i' || token.key === 'ie') {
      // `ie` wins over `i` when both are given, as ImageKit documents.
      if (token.key === 'i' && top.inputEncoded) continue;
      if (top.input !== undefined && top.inputEncoded === (token.key === 'ie')) {
        throw new BadRequestError(
          `Parameter '${token.key}' is given twice in ${describeLayer(top.type, top.place)}`,
          token.key,
        );
      }
      top.input = token.value;
      top.inputEncoded = token.key === 'ie';
      continue;
    }
    top.params.push(token);
  }
  const open = stack.at(-1);
  if (open)
    throw new BadRequestError(`${describeLayer(open.type, open.place)} is not closed with l-end`, 'l');
  return { base, layers };
}

function serializeInput(layer: Layer): string {
  const input = layer.input;
  if (input.kind === 'canvas') return `i-${CANVAS_INPUT}`;
  if (input.kind === 'path') {
    return /^[A-Za-z0-9._/-]+$/.test(input.path) && !input.path.includes('@@')
      ? `i-${input.path.replace(/\//g, '@@')}`
      : `ie-${Buffer.from(input.path, 'utf8').toString('base64url')}`;
  }
  return /^[A-Za-z0-9._-]+$/.test(input.text)
    ? `i-${input.text}`
    : `ie-${Buffer.from(input.text, 'utf8').toString('base64url')}`;
}

/** The canonical text of one layer, `l-<type>` to `l-end`; `splitLayers` reads it back equal. */
export function serializeLayer(layer: Layer): string {
  const parts = [`l-${layer.type}`, serializeInput(layer)];
  for (const key of KEY_ORDER) {
    const value = serializeParam(layer, key);
    if (value !== undefined) parts.push(`${key}-${value}`);
  }
  for (const child of layer.layers ?? []) parts.push(serializeLayer(child));
  parts.push('l-end');
  return parts.join(',');
}
