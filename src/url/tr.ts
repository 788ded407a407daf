import { BadRequestError, InvalidParameterError } from '../errors.js';
import { serializeLayer, splitLayers } from '../layers/grammar.js';
import { isParamKey, PARAM_ORDER, PARAMS, type ParamKey } from './params.js';
import type { NamedTransformations, TimeValue, TransformParams } from './types.js';
import { clip } from './validators.js';

/** Longer `tr` strings are not written by people or SDKs; refusing them bounds parsing work. */
const MAX_TR_LENGTH = 2048;
/** Named transformations may refer to others, but not endlessly. */
const MAX_NAMED_DEPTH = 8;
/** Bounds the work of expanding names that fan out (`a` = `n-b,n-b`, `b` = `n-c,n-c`, ...). */
const MAX_EXPANDED_PARAMS = 256;

/** One `key-value` as written, before its value is validated. */
interface RawParam {
  key: string;
  value: string;
}

/**
 * Splits a `tr` string into its parameters, in order, with every `n-NAME` replaced by the
 * parameters of the named transformation (recursively). Steps lose their boundaries here: the
 * proxy applies one merged set of parameters.
 */
function tokenize(
  tr: string,
  named: NamedTransformations,
  expanding: readonly string[],
  budget = { left: MAX_EXPANDED_PARAMS },
): RawParam[] {
  const out: RawParam[] = [];
  for (const step of tr.split(':')) {
    if (step === '')
      throw new BadRequestError('Empty transformation step in tr (check for a stray ":")', 'tr');
    for (const param of step.split(',')) {
      if (param === '') throw new BadRequestError('Empty parameter in tr (check for a stray ",")', 'tr');
      const dash = param.indexOf('-');
      const key = dash < 0 ? param : param.slice(0, dash);
      const value = dash < 0 ? '' : param.slice(dash + 1);
      if (key === '') throw new BadRequestError(`Parameter '${clip(param)}' has no name before "-"`, 'tr');
      if (--budget.left < 0) {
        throw new BadRequestError(
          `Transformation expands to more than ${MAX_EXPANDED_PARAMS} parameters`,
          'tr',
        );
      }
      if (key === 'n') out.push(...expandNamed(value, named, expanding, budget));
      else out.push({ key, value });
    }
  }
  return out;
}

function expandNamed(
  name: string,
  named: NamedTransformations,
  expanding: readonly string[],
  budget: { left: number },
): RawParam[] {
  if (name === '') throw new InvalidParameterError('n', 'the name of a configured named transformation', '');
  const definition = Object.hasOwn(named, name) ? named[name] : undefined;
  if (typeof definition !== 'string') {
    throw new BadRequestError(`Unknown named transformation '${clip(name)}' in parameter 'n'`, 'n');
  }
  if (expanding.includes(name)) {
    throw new BadRequestError(
      `Named transformation '${name}' refers to itself (${[...expanding, name].join(' -> ')})`,
      'n',
    );
  }
  if (expanding.length >= MAX_NAMED_DEPTH) {
    throw new BadRequestError(
      `Named transformations nest deeper than ${MAX_NAMED_DEPTH} levels at '${name}'`,
      'n',
    );
  }
  if (definition === '') return [];
  return tokenize(definition, named, [...expanding, name], budget);
}

function isPlainSeconds(value: TimeValue | undefined): value is { kind: 'seconds'; value: number } {
  return value?.kind === 'seconds';
}

/** Container each codec can live in, per the valid output combinations of the URL contract. */
const VIDEO_CODEC_CONTAINERS: Record<string, readonly string[]> = {
  h264: ['mp4'],
  vp9: ['webm'],
  av1: ['mp4', 'webm'],
};
const AUDIO_CODEC_CONTAINERS: Record<string, readonly string[]> = { aac: ['mp4'], opus: ['webm'] };

function checkCodecs(p: TransformParams): void {
  if (p.vc === 'none' && p.ac === 'none') {
    throw new BadRequestError('vc-none with ac-none leaves nothing to deliver; drop one of them', 'vc');
  }
  const videoContainers = p.vc && p.vc !== 'none' ? VIDEO_CODEC_CONTAINERS[p.vc] : undefined;
  const audioContainers = p.ac && p.ac !== 'none' ? AUDIO_CODEC_CONTAINERS[p.ac] : undefined;
  if (p.f === 'mp4' || p.f === 'webm') {
    const container = p.f;
    if (videoContainers && !videoContainers.includes(container)) {
      throw new BadRequestError(`vc-${p.vc} cannot be delivered as f-${container}`, 'vc');
    }
    if (audioContainers && !audioContainers.includes(container)) {
      throw new BadRequestError(`ac-${p.ac} cannot be delivered as f-${container}`, 'ac');
    }
  }
  if (videoContainers && audioContainers && !videoContainers.some((c) => audioContainers.includes(c))) {
    throw new BadRequestError(`vc-${p.vc} and ac-${p.ac} share no output container`, 'ac');
  }
}

/** Rules between parameters that hold whatever the URL suffix is. */
function checkCombinations(p: TransformParams): void {
  if (p.orig) {
    const others: string[] = PARAM_ORDER.filter((key) => key !== 'orig' && p[key] !== undefined);
    if (p.layers) others.push('l');
    if (others.length > 0) {
      throw new BadRequestError(
        `orig-true cannot be combined with other parameters (${others.join(', ')})`,
        'orig',
      );
    }
  }
  if (p.eo !== undefined && p.du !== undefined) {
    throw new BadRequestError('eo and du cannot be used together; give an end offset or a duration', 'eo');
  }
  if (isPlainSeconds(p.so) && isPlainSeconds(p.eo) && p.so.value >= p.eo.value) {
    throw new BadRequestError(`eo (${p.eo.value}) must be greater than so (${p.so.value})`, 'eo');
  }
  if (p.cm && p.w === undefined && p.h === undefined) {
    throw new BadRequestError(`cm-${p.cm} needs w or h`, 'cm');
  }
  if (p.ar && (p.w === undefined) === (p.h === undefined)) {
    throw new BadRequestError('ar needs exactly one of w or h (the other follows from the ratio)', 'ar');
  }
  checkCodecs(p);
}

/**
 * Parses and validates a `tr` string (steps joined by `:`, parameters by `,`, `key-value` split at
 * the first `-`) into one merged parameter set. `n-NAME` expands to the configured named
 * transformation. A key given twice, in any step or through a named transformation, is a 400.
 *
 * @example parseTransformation('w-300,h-200:rt-90', {}) // { w: {kind:'px',value:300}, h: ..., rt: 90 }
 * @throws BadRequestError / InvalidParameterError (400) naming the parameter at fault.
 */
export function parseTransformation(tr: string, named: NamedTransformations): TransformParams {
  if (tr === '') return {};
  if (tr.length > MAX_TR_LENGTH) {
    throw new BadRequestError(`Transformation is longer than ${MAX_TR_LENGTH} characters`, 'tr');
  }
  const params: Record<string, unknown> = {};
  const { base, layers } = splitLayers(tokenize(tr, named, []));
  if (layers.length > 0) params.layers = layers;
  for (const { key, value } of base) {
    if (!isParamKey(key))
      throw new BadRequestError(`Unknown transformation parameter '${clip(key)}'`, clip(key));
    if (params[key] !== undefined) {
      throw new BadRequestError(`Parameter '${key}' is given more than once`, key);
    }
    if (value === '') throw new InvalidParameterError(key, PARAMS[key].expected, '');
    params[key] = PARAMS[key].parse(value);
  }
  const result = params as TransformParams;
  checkCombinations(result);
  return result;
}

/**
 * The canonical `tr` string of a parameter set: one step, keys in a fixed order, values
 * normalised. Equivalent URLs give the same string, and
 * `parseTransformation(serializeParams(p), {})` deep-equals `p` for every valid `p`.
 */
export function serializeParams(params: TransformParams): string {
  const parts: string[] = [];
  for (const key of PARAM_ORDER) {
    const value = params[key];
    if (value === undefined) continue;
    const spec = PARAMS[key] as { serialize(v: NonNullable<TransformParams[ParamKey]>): string };
    parts.push(`${key}-${spec.serialize(value)}`);
  }
  for (const layer of params.layers ?? []) parts.push(serializeLayer(layer));
  return parts.join(',');
}
