import { BadRequestError } from '../errors.js';

/**
 * The URL layout of seek previews, written once: the track `<source>/ik-seek-thumbnail-track.vtt`
 * lists sheets `<source>/ik-sprite-<n>.jpg` (relative URLs, from 0), built by `spriteSheetName`
 * and read back by `parseSpriteSheetName`.
 */

/** The last path segment of the seek-preview track. */
export const SEEK_TRACK_NAME = 'ik-seek-thumbnail-track.vtt';

const SHEET = /^ik-sprite-(.*)\.jpg$/;
/** Canonical non-negative integer: `0`, `17`, never `017`, bounded so indexes stay sane. */
const INDEX = /^(0|[1-9]\d{0,5})$/;

/** The file name of sprite sheet `index`. */
export function spriteSheetName(index: number): string {
  return `ik-sprite-${index}.jpg`;
}

/**
 * The sheet index a path segment names; `undefined` when it is not a sheet name at all, a 400
 * when it looks like one with a malformed index.
 */
export function parseSpriteSheetName(segment: string): number | undefined {
  const match = SHEET.exec(segment);
  if (!match) return undefined;
  const index = match[1] ?? '';
  if (!INDEX.test(index)) throw new BadRequestError(`Invalid sprite sheet index in '${segment}'`, 'suffix');
  return Number(index);
}

/** A path ending in a sheet name, as the path of the seek track that lists it; else `undefined`. */
export function seekTrackPathOf(sheetPath: string): string | undefined {
  const cut = sheetPath.lastIndexOf('/');
  try {
    if (cut < 0 || parseSpriteSheetName(sheetPath.slice(cut + 1)) === undefined) return undefined;
  } catch {
    return undefined;
  }
  return `${sheetPath.slice(0, cut)}/${SEEK_TRACK_NAME}`;
}
