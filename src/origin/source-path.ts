import { NotFoundError } from '../errors.js';
import { ORIGIN_MESSAGES } from './messages.js';

/**
 * Checks a source path and returns its segments. Leading slashes are tolerated and dropped;
 * empty paths, NUL bytes and any segment that starts with `.` are refused with `NotFoundError`.
 * `.` and `..` would walk an adapter out of its root (a URL would collapse `..` and even
 * `%2e%2e`); every other dot name (`.env`, `.git/config`, `.aws/credentials`) is a hidden file
 * that sits beside media far more often than media does, so no origin ever serves one. The
 * answer is the same 404 as for a missing source, so a probe learns nothing. Every adapter
 * (folder, S3, HTTP) builds its keys and URLs through here.
 */
export function sourcePathSegments(path: string): string[] {
  const trimmed = path.replace(/^\/+/, '');
  if (trimmed === '' || trimmed.includes('\0')) throw new NotFoundError(ORIGIN_MESSAGES.notFound);
  const segments = trimmed.split('/');
  if (segments.some((segment) => segment.startsWith('.'))) {
    throw new NotFoundError(ORIGIN_MESSAGES.notFound);
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
