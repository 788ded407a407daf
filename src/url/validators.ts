import { InvalidParameterError } from '../errors.js';

/** Keeps error messages short whatever a client sends; messages quote the value they reject. */
export function clip(value: string, max = 64): string {
  return value.length > max ? `${value.slice(0, max)}…` : value;
}

/** Throws the uniform "Expected X for parameter 'p' but received 'v'" error. */
export function invalid(param: string, expected: string, actual: string): never {
  throw new InvalidParameterError(param, expected, clip(actual));
}

/** A whole number in [min, max], written in decimal digits only (no sign, no exponent). */
export function integerIn(param: string, raw: string, min: number, max: number): number {
  const expected = `an integer from ${min} to ${max}`;
  if (!/^\d{1,9}$/.test(raw)) invalid(param, expected, raw);
  const value = Number(raw);
  if (value < min || value > max) invalid(param, expected, raw);
  return value;
}

/** A non-negative decimal with at most `maxDecimals` digits after the point, e.g. `5`, `2.25`. */
export function decimal(param: string, raw: string, maxDecimals: number, expected: string): number {
  const pattern = new RegExp(`^\\d{1,7}(\\.\\d{1,${maxDecimals}})?$`);
  if (!pattern.test(raw)) invalid(param, expected, raw);
  return Number(raw);
}

/** One of a fixed set of words, with optional aliases mapped onto their canonical word. */
export function oneOf<T extends string>(
  param: string,
  raw: string,
  values: readonly T[],
  aliases: Readonly<Record<string, T>> = {},
): T {
  if ((values as readonly string[]).includes(raw)) return raw as T;
  if (Object.hasOwn(aliases, raw)) return aliases[raw] as T;
  return invalid(param, `one of ${values.join(', ')}`, raw);
}

/** Six hex digits, any case; returned upper case so equal colours give one cache key. */
export function hexColor(param: string, raw: string): string {
  if (!/^[0-9a-fA-F]{6}$/.test(raw)) invalid(param, 'a colour as 6 hex digits RRGGBB', raw);
  return raw.toUpperCase();
}
