// Pure helpers of the playground page: no DOM and no network, so Node tests import this module
// as it is, and the browser loads the very same file.

/**
 * One entry of `<basePath>/playground/api/sources`.
 * @typedef {{ path: string, size: number, type: string }} SourceEntry
 */

/**
 * A source path as a URL path: every segment percent-encoded, the slashes kept.
 * @param {string} path origin path, unencoded (`clips/a b.mp4`)
 * @returns {string}
 */
export function encodePath(path) {
  return path.split('/').map(encodeURIComponent).join('/');
}

/**
 * The URL of a source, or of an output under it, on this proxy.
 * @param {string} base `BASE_PATH` (`''` or `/v`)
 * @param {string} source origin path, unencoded
 * @param {string} [suffix] an output suffix such as `/ik-thumbnail.jpg`, or `''`
 * @param {string} [tr] a transformation string, or `''`
 * @returns {string}
 */
export function sourceUrl(base, source, suffix = '', tr = '') {
  const url = `${base}/${encodePath(source)}${suffix}`;
  return tr === '' ? url : `${url}?tr=${tr}`;
}

/**
 * Times of `count` evenly spaced frames from the start, in seconds rounded down to 0.01 s so the
 * URLs stay short and a frame never lands past the end.
 * @param {number} duration seconds
 * @param {number} count
 * @returns {number[]}
 */
export function thumbnailTimes(duration, count) {
  const safe = Number.isFinite(duration) && duration > 0 ? duration : 0;
  return Array.from({ length: count }, (_, i) => Math.floor(((safe * i) / count) * 100) / 100);
}

/**
 * Paths of the video sources, in listing order: the ones the page may open by itself (an audio
 * source has no frames to show and nothing to stream as HLS video).
 * @param {readonly SourceEntry[]} sources
 * @returns {string[]}
 */
export function videoPaths(sources) {
  return sources.filter((source) => source.type.startsWith('video/')).map((source) => source.path);
}

/**
 * The `tr` string of the URL builder: `key-value` for each filled field, in the fields' order.
 * @param {ReadonlyArray<readonly [string, string]>} fields `[key, raw input]` pairs
 * @returns {string}
 */
export function transformString(fields) {
  return fields
    .map(([key, value]) => [key, value.trim()])
    .filter(([, value]) => value !== '')
    .map(([key, value]) => `${key}-${value}`)
    .join(',');
}

/**
 * A listing size as the page shows it, in MiB with one decimal.
 * @param {number} bytes
 * @returns {string}
 */
export function formatSize(bytes) {
  return `${(bytes / 1048576).toFixed(1)} MB`;
}

/**
 * What a path typed by the user means: leading slashes dropped, surrounding spaces trimmed.
 * @param {string} typed
 * @returns {string}
 */
export function normaliseTypedPath(typed) {
  return typed.trim().replace(/^\/+/, '');
}
