/**
 * Pure naming rules of stored files: safe names and folders, ImageKit's unique suffix, and the
 * `fileId`, which is the file's path in base64url so any node (and any restart) finds the file
 * from the id alone.
 */
import { randomBytes } from 'node:crypto';
import { InvalidFieldError } from './errors.js';

/** Longest file name accepted (characters). */
export const MAX_NAME_LENGTH = 255;
/** Longest folder path accepted (characters) and deepest nesting. */
export const MAX_FOLDER_LENGTH = 1024;
export const MAX_FOLDER_DEPTH = 32;

const CONTROL = /[\u0000-\u001f\u007f]/;
const SUFFIX_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-';

/**
 * Checks one name (a file name or a folder segment). Path syntax (`/`, `\`, `..`, a leading `.`),
 * control characters (NUL included) and over-long names are refused; any other character outside
 * `[A-Za-z0-9._-]` becomes `_`, as ImageKit does.
 */
function safeSegment(field: string, raw: string, max: number): string {
  if (raw.length > max) throw new InvalidFieldError(field, `Names may be at most ${max} characters`);
  if (CONTROL.test(raw)) throw new InvalidFieldError(field, 'Names may not contain control characters');
  if (raw.includes('\\')) throw new InvalidFieldError(field, "Names may not contain '\\'");
  if (raw === '.' || raw === '..' || raw.includes('..'))
    throw new InvalidFieldError(field, "Names may not contain '..'");
  if (raw.startsWith('.')) throw new InvalidFieldError(field, "Names may not start with '.'");
  const clean = raw.replace(/[^A-Za-z0-9._-]/g, '_');
  if (clean === '') throw new InvalidFieldError(field, 'Names may not be empty');
  return clean;
}

/** A file name: one segment, no `/`. */
export function safeFileName(raw: string, field = 'fileName'): string {
  if (raw.includes('/')) throw new InvalidFieldError(field, "A file name may not contain '/'; use folder");
  return safeSegment(field, raw, MAX_NAME_LENGTH);
}

/** A folder: `/`-separated segments (leading, trailing and repeated `/` ignored); `''` is the root. */
export function safeFolder(raw: string, field = 'folder'): string {
  if (raw.length > MAX_FOLDER_LENGTH) {
    throw new InvalidFieldError(field, `A folder may be at most ${MAX_FOLDER_LENGTH} characters`);
  }
  const segments = raw.split('/').filter((segment) => segment !== '');
  if (segments.length > MAX_FOLDER_DEPTH) {
    throw new InvalidFieldError(field, `A folder may be at most ${MAX_FOLDER_DEPTH} levels deep`);
  }
  return segments.map((segment) => safeSegment(field, segment, MAX_NAME_LENGTH)).join('/');
}

/** `_` and `length` random characters of `[A-Za-z0-9_-]` before the extension, as ImageKit does. */
export function uniqueName(name: string, length = 6, random: (n: number) => Buffer = randomBytes): string {
  const dot = name.lastIndexOf('.');
  const stem = dot > 0 ? name.slice(0, dot) : name;
  const extension = dot > 0 ? name.slice(dot) : '';
  const bytes = random(length);
  let suffix = '';
  for (let i = 0; i < length; i++) suffix += SUFFIX_ALPHABET[bytes[i]! & 63];
  return `${stem}_${suffix}${extension}`;
}

/** The stored path (no leading `/`) of `name` in `folder`. */
export function joinPath(folder: string, name: string): string {
  return folder === '' ? name : `${folder}/${name}`;
}

/** The file id of a stored path: its UTF-8 bytes in base64url (stable across nodes and restarts). */
export function fileIdOf(path: string): string {
  return Buffer.from(path, 'utf8').toString('base64url');
}

/** The path a file id names, or `undefined` when the id is not one this server issued. */
export function pathOfFileId(fileId: string): string | undefined {
  if (fileId.length === 0 || fileId.length > 2800 || !/^[A-Za-z0-9_-]+$/.test(fileId)) return undefined;
  const path = Buffer.from(fileId, 'base64url').toString('utf8');
  // A round trip proves the id is canonical (one id per path) and the bytes were valid UTF-8.
  if (fileIdOf(path) !== fileId || path === '' || path.includes('\0')) return undefined;
  return path;
}
