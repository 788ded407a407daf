import { BadRequestError } from '../errors.js';
import type { ProxyRequest } from '../url/types.js';
import type { OriginalKind } from './types.js';

/** True when the request asks for the source's own bytes: no `tr`, `orig-true`, or `f-orig` alone. */
export function wantsOriginal(request: ProxyRequest): boolean {
  if (request.suffix.kind !== 'video') return false;
  const keys = Object.keys(request.params);
  return (
    keys.length === 0 || request.params.orig === true || (keys.length === 1 && request.params.f === 'orig')
  );
}

/** The source as stored: streamed from the origin with ranges, never probed, encoded or cached. */
export const originalKind: OriginalKind = {
  name: 'video',
  mode: 'original',
  description: 'the original (orig-true)',
  accepts: ['orig', 'f'],
  check(request) {
    // `orig-true` with anything else would silently drop the rest.
    const extra = Object.keys(request.params).find((key) => key !== 'orig');
    if (request.params.orig === true && extra !== undefined) {
      throw new BadRequestError(
        `Parameter '${extra}' cannot be combined with orig-true (the original bytes)`,
        extra,
      );
    }
  },
};
