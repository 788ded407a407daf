import { createHash } from 'node:crypto';

/** Everything that identifies one cached output. */
export interface CacheKeyParts {
  /** Source path relative to the origin root. */
  sourcePath: string;
  /** The origin's version token for the source (ETag, size+mtime...). */
  sourceVersion: string;
  /** What was produced: `thumbnail`, `video`, `hls-segment`... */
  kind: string;
  /** The canonical transformation string (the same for every spelling of the same request). */
  canonical: string;
  /** Anything else that changes the bytes, e.g. a segment number or rendition. */
  variant?: string;
}

/**
 * Bumped when the meaning of a cached output changes (encoder settings, layout), so old entries
 * are simply never hit again instead of being served wrongly.
 */
const KEY_SCHEMA = 'v2';

/**
 * A stable cache key: the sha256 hex of the JSON array of the parts. JSON quoting keeps parts
 * apart (no `a|b` + `c` vs `a` + `b|c` collisions) and a fixed field order keeps it stable.
 */
export function cacheKey(parts: CacheKeyParts): string {
  const fields = [
    KEY_SCHEMA,
    parts.sourcePath,
    parts.sourceVersion,
    parts.kind,
    parts.canonical,
    parts.variant ?? null,
  ];
  return createHash('sha256').update(JSON.stringify(fields)).digest('hex');
}
