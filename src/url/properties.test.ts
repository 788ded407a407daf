import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { ProxyError } from '../errors.js';
import {
  AUDIO_CODECS,
  CROP_MODES,
  CROP_MODES_EXTRA,
  FOCUS_VALUES,
  OUTPUT_FORMATS,
  STREAMING_HEIGHTS,
  VIDEO_CODECS,
} from './params.js';
import { parseRequestUrl } from './request.js';
import { verifySignature } from './signature.js';
import { parseTransformation, serializeParams } from './tr.js';
import type { Dimension, Expression, ExprVariable, TimeValue, TransformParams } from './types.js';

/** A decimal with bounded digits, built as text so it is exactly what a URL could carry. */
const decimalNumber = (intDigits: number, fracDigits: number) =>
  fc
    .tuple(
      fc.integer({ min: 0, max: 10 ** intDigits - 1 }),
      fc.option(fc.integer({ min: 0, max: 10 ** fracDigits - 1 }), { nil: undefined }),
    )
    .map(([whole, frac]) =>
      Number(frac === undefined ? `${whole}` : `${whole}.${String(frac).padStart(fracDigits, '0')}`),
    );

function expression(variables: readonly ExprVariable[]): fc.Arbitrary<Expression> {
  const operand = fc.oneof(fc.constantFrom(...variables), decimalNumber(9, 6));
  const operator = fc.constantFrom('add', 'sub', 'mul', 'div', 'mod', 'pow' as const);
  return fc.oneof(
    fc.constantFrom(...variables).map((v): Expression => ({ kind: 'expr', operands: [v], operators: [] })),
    fc.tuple(operand, fc.array(fc.tuple(operator, operand), { minLength: 1, maxLength: 10 })).map(
      ([first, rest]): Expression => ({
        kind: 'expr',
        operands: [first, ...rest.map(([, o]) => o)],
        operators: rest.map(([op]) => op),
      }),
    ),
  );
}

const dimension: fc.Arbitrary<Dimension> = fc.oneof(
  fc.integer({ min: 1, max: 16384 }).map((value): Dimension => ({ kind: 'px', value })),
  fc
    .integer({ min: 1, max: 999_999 })
    .map((n): Dimension => ({ kind: 'fraction', value: Number(`0.${String(n).padStart(6, '0')}`) })),
  expression(['iw', 'ih', 'iar']),
);

const seconds = (positive: boolean): fc.Arbitrary<TimeValue> =>
  fc.oneof(
    decimalNumber(7, 2)
      .filter((value) => !positive || value > 0)
      .map((value): TimeValue => ({ kind: 'seconds', value })),
    expression(['idu']),
  );

const hex = fc.stringMatching(/^[0-9A-F]{6}$/);

const rawParams = fc.record(
  {
    w: dimension,
    h: dimension,
    ar: fc.record({ w: decimalNumber(5, 4), h: decimalNumber(5, 4) }).filter((r) => r.w > 0 && r.h > 0),
    c: fc.constantFrom(...CROP_MODES),
    cm: fc.constantFrom(...CROP_MODES_EXTRA),
    fo: fc.constantFrom(...FOCUS_VALUES),
    bg: hex,
    b: fc.record({ width: fc.integer({ min: 1, max: 1000 }), color: hex }),
    r: fc.oneof(fc.integer({ min: 1, max: 16384 }), fc.constant('max' as const)),
    rt: fc.constantFrom(0, 90, 180, 270 as const),
    q: fc.integer({ min: 1, max: 100 }),
    f: fc.constantFrom(...OUTPUT_FORMATS),
    vc: fc.constantFrom(...VIDEO_CODECS),
    ac: fc.constantFrom(...AUDIO_CODECS),
    so: seconds(false),
    eo: seconds(true),
    du: seconds(true),
    sr: fc
      .uniqueArray(fc.constantFrom(...STREAMING_HEIGHTS), { minLength: 1 })
      .map((h) => [...h].sort((a, b) => a - b)),
  },
  { requiredKeys: [] },
);

/**
 * Drops whatever breaks a cross-parameter rule, so every generated set is valid. The rules are
 * restated here on purpose: if the parser and this list disagree, the round trip fails.
 */
function makeValid(p: TransformParams): TransformParams {
  const out = { ...p };
  if (out.eo !== undefined && out.du !== undefined) delete out.du;
  if (out.so?.kind === 'seconds' && out.eo?.kind === 'seconds' && out.so.value >= out.eo.value) delete out.eo;
  if (out.cm && !out.w && !out.h) delete out.cm;
  if (out.ar && !out.w === !out.h) delete out.ar;
  if (out.vc === 'none' && out.ac === 'none') delete out.ac;
  const containers: Record<string, string[]> = {
    h264: ['mp4'],
    vp9: ['webm'],
    av1: ['mp4', 'webm'],
    aac: ['mp4'],
    opus: ['webm'],
  };
  if (out.f === 'mp4' || out.f === 'webm') {
    if (out.vc && out.vc !== 'none' && !containers[out.vc]!.includes(out.f)) delete out.vc;
    if (out.ac && out.ac !== 'none' && !containers[out.ac]!.includes(out.f)) delete out.ac;
  }
  if (out.vc && out.vc !== 'none' && out.ac && out.ac !== 'none') {
    if (!containers[out.vc]!.some((c) => containers[out.ac!]!.includes(c))) delete out.ac;
  }
  return out;
}

const validParams: fc.Arbitrary<TransformParams> = fc.oneof(
  { weight: 20, arbitrary: rawParams.map(makeValid) },
  { weight: 1, arbitrary: fc.constant<TransformParams>({ orig: true }) },
);

/** Calls `fn` and requires it to return or throw a 400 ProxyError, nothing else. */
function returnsOr400(fn: () => unknown): void {
  try {
    fn();
  } catch (error) {
    if (!(error instanceof ProxyError) || error.status !== 400) throw error;
  }
}

/** Strings made of the grammar's own pieces reach much deeper than random text. */
const trLike = fc
  .array(
    fc.oneof(
      fc.constantFrom(
        'w',
        'h',
        'ar',
        'c',
        'cm',
        'so',
        'eo',
        'du',
        'sr',
        'f',
        'vc',
        'ac',
        'n',
        'orig',
        'bg',
        'b',
        'r',
        'q',
        'rt',
      ),
      fc.constantFrom(
        '-',
        '_',
        ':',
        ',',
        '.',
        '0',
        '1',
        '240',
        '720',
        'iw',
        'idu',
        'div',
        'mul',
        'true',
        'max',
        'a',
        'b',
      ),
      fc.constantFrom('n-a', 'n-b', 'n-c', 'n-d', 'n-x', 'n-__proto__'),
      fc.string({ maxLength: 3 }),
    ),
    { maxLength: 24 },
  )
  .map((parts) => parts.join(''));

const named = { a: 'w-100', b: 'n-a,h-50', c: 'n-c', d: 'n-e', e: 'n-d' };

describe('round trip', () => {
  test('parseTransformation(serializeParams(p)) deep-equals p for every valid p', () => {
    fc.assert(
      fc.property(validParams, (params) => {
        expect(parseTransformation(serializeParams(params), {})).toEqual(params);
      }),
      { numRuns: 2000 },
    );
  });

  test('serializing is idempotent: the canonical string parses to itself', () => {
    fc.assert(
      fc.property(validParams, (params) => {
        const canonical = serializeParams(params);
        expect(serializeParams(parseTransformation(canonical, {}))).toBe(canonical);
      }),
      { numRuns: 500 },
    );
  });

  test('step order and splitting do not change the canonical string', () => {
    fc.assert(
      fc.property(validParams, fc.integer({ min: 0, max: 1000 }), (params, seed) => {
        const parts = serializeParams(params).split(',').filter(Boolean);
        // A deterministic shuffle and re-chaining of the same parameters.
        const shuffled = parts
          .map((part, index) => ({ part, key: (index * 7919 + seed) % 1009 }))
          .sort((x, y) => x.key - y.key)
          .map(({ part }) => part);
        const rechained = shuffled
          .map((part, index) => (index % 2 === seed % 2 ? `:${part}` : `,${part}`))
          .join('')
          .slice(1);
        expect(serializeParams(parseTransformation(rechained, {}))).toBe(serializeParams(params));
      }),
      { numRuns: 500 },
    );
  });
});

describe('fuzzing: only results or 400s', () => {
  test('parseTransformation on any string', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 200, unit: 'binary' }), trLike), (tr) => {
        returnsOr400(() => parseTransformation(tr, named));
      }),
      { numRuns: 3000 },
    );
  });

  test('parseRequestUrl on any path and query', () => {
    const pathPart = fc.oneof(
      fc.constantFrom(
        'ik-thumbnail.jpg',
        'ik-master.m3u8',
        'ik-abs',
        '720',
        'seg-1.m4s',
        '..',
        '%2e',
        '%',
        'tr:w-1',
        'a.mp4',
      ),
      fc.string({ maxLength: 8, unit: 'binary' }),
    );
    const path = fc.oneof(
      fc.string({ maxLength: 100, unit: 'binary' }),
      fc.array(pathPart, { maxLength: 6 }).map((parts) => `/${parts.join('/')}`),
    );
    const query = fc.oneof(
      fc.string({ maxLength: 100, unit: 'binary' }),
      trLike.map((tr) => `tr=${tr}`),
    );
    fc.assert(
      fc.property(path, query, (p, q) => {
        returnsOr400(() => parseRequestUrl(p, q, { named }));
      }),
      { numRuns: 3000 },
    );
  });

  test('verifySignature throws nothing but 401s on any target', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 120, unit: 'binary' }), (target) => {
        try {
          verifySignature(target, ['k'], 0);
        } catch (error) {
          if (!(error instanceof ProxyError) || error.status !== 401) throw error;
        }
      }),
      { numRuns: 1000 },
    );
  });
});
