import { HLS_MASTER_NAME } from '../abs/layout.js';

/**
 * What a warm run requests, before any request: the lines of a list file, resolved against
 * `--base`, or the URLs that warm `--tr`/`--thumbnail` for each source of an origin folder. Pure.
 */

/** The thumbnail suffix, as ImageKit names it. */
const THUMBNAIL_NAME = 'ik-thumbnail.jpg';

/** The URLs or paths in a list file: one per line, blank lines and `#` comments skipped. */
export function parseUrlList(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

/**
 * A list entry as an absolute URL: full http(s) URLs are kept, paths are appended to `base`
 * (keeping any path prefix `base` has, e.g. `https://cdn.example.com/v`).
 */
export function resolveTarget(entry: string, base: string): string {
  if (/^https?:\/\//i.test(entry)) return new URL(entry).toString();
  return new URL(`${base.replace(/\/+$/, '')}/${entry.replace(/^\/+/, '')}`).toString();
}

/** Whether a transformation string asks for an adaptive ladder (`sr-` in any chained step). */
function isLadder(tr: string): boolean {
  return tr.split(':').some((step) => step.split(',').some((param) => param.startsWith('sr-')));
}

/**
 * The paths that warm `transforms` and `thumbnails` for each source: a ladder transform as its
 * HLS master (the warm run then follows its playlists), any other as the transformed video.
 */
export function prefixTargets(
  paths: readonly string[],
  transforms: readonly string[],
  thumbnails: readonly string[],
): string[] {
  const encode = (path: string) => path.split('/').map(encodeURIComponent).join('/');
  const targets: string[] = [];
  for (const path of paths) {
    const source = `/${encode(path)}`;
    for (const tr of transforms)
      targets.push(isLadder(tr) ? `${source}/${HLS_MASTER_NAME}?tr=${tr}` : `${source}?tr=${tr}`);
    for (const tr of thumbnails) targets.push(`${source}/${THUMBNAIL_NAME}?tr=${tr}`);
  }
  return targets;
}
