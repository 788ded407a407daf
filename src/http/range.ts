import type { ByteRange } from '../origin/types.js';

const SINGLE_RANGE = /^bytes=[ \t]*(\d*)[ \t]*-[ \t]*(\d*)[ \t]*$/i;

/**
 * Reads a `Range` header for a body of `size` bytes. Only single byte ranges are honoured
 * (`bytes=a-b`, `bytes=a-`, `bytes=-n`); a multi-range or malformed header gives `undefined`,
 * meaning "serve the whole body with 200", which RFC 9110 allows. `'unsatisfiable'` means 416.
 *
 * @example parseRangeHeader('bytes=0-1', 1000) // { start: 0, end: 1 }
 */
export function parseRangeHeader(
  header: string | undefined,
  size: number,
): ByteRange | 'unsatisfiable' | undefined {
  if (header === undefined) return undefined;
  const match = SINGLE_RANGE.exec(header.trim());
  if (!match) return undefined;
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return undefined;
  if (first === '') {
    // Suffix range: the last n bytes. A zero-length suffix, or any suffix of an empty body, selects nothing.
    const length = Number(last);
    if (length === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - length), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? Number.POSITIVE_INFINITY : Number(last);
  if (end < start) return undefined;
  if (start >= size) return 'unsatisfiable';
  return { start, end: Math.min(end, size - 1) };
}

/**
 * Reads a `Range` header for a body whose length is not known yet (an output still encoding):
 * `bytes=a-b` or `bytes=a-`. A suffix range (`bytes=-n`) needs the length, and a multi-range or
 * malformed header is served whole, so both give `undefined`.
 */
export function parseOpenRange(header: string | undefined): { start: number; end?: number } | undefined {
  if (header === undefined) return undefined;
  const match = SINGLE_RANGE.exec(header.trim());
  if (!match?.[1]) return undefined;
  const start = Number(match[1]);
  if (!match[2]) return { start };
  const end = Number(match[2]);
  return end < start ? undefined : { start, end };
}
