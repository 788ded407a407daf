import { NotFoundError } from '../errors.js';

/**
 * Checks a source path and returns its segments. Leading slashes are tolerated and dropped;
 * empty paths, NUL bytes and `.`/`..` segments are refused with `NotFoundError` so no adapter
 * can be walked out of its root (a URL would collapse `..` and even `%2e%2e`).
 */
export function sourcePathSegments(path: string): string[] {
  const trimmed = path.replace(/^\/+/, '');
  if (trimmed === '' || trimmed.includes('\0')) throw new NotFoundError('Source not found');
  const segments = trimmed.split('/');
  if (segments.some((segment) => segment === '.' || segment === '..')) {
    throw new NotFoundError('Source not found');
  }
  return segments;
}

/** The checked path, `/`-joined, without leading slashes. */
export function checkSourcePath(path: string): string {
  return sourcePathSegments(path).join('/');
}

/** A listing directory: `''` for the root, otherwise a checked path ending in `/`. */
export function listingPrefix(dir: string): string {
  const trimmed = dir.replace(/^\/+/, '').replace(/\/+$/, '');
  return trimmed === '' ? '' : `${checkSourcePath(trimmed)}/`;
}
