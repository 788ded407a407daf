import { BadRequestError } from '../errors.js';
import { evaluateExpression } from '../url/index.js';
import type { TimeValue } from '../url/types.js';

/** Resolves a time parameter (seconds or an `idu` expression) against the source duration. */
export function resolveTime(
  value: TimeValue | undefined,
  duration: number,
  name: string,
): number | undefined {
  if (!value) return undefined;
  const seconds = value.kind === 'seconds' ? value.value : evaluateExpression(value, { idu: duration });
  if (!Number.isFinite(seconds) || seconds < 0) {
    throw new BadRequestError(
      `Parameter '${name}' resolves to ${seconds}, which is not a time in seconds`,
      name,
    );
  }
  return Math.round(seconds * 100) / 100;
}
