/** Media types by lower-case file extension (without the dot). */
const BY_EXTENSION: Readonly<Record<string, string>> = {
  mp4: 'video/mp4',
  m4v: 'video/x-m4v',
  mov: 'video/quicktime',
  qt: 'video/quicktime',
  webm: 'video/webm',
  mkv: 'video/x-matroska',
  mpeg: 'video/mpeg',
  mpg: 'video/mpeg',
  m1v: 'video/mpeg',
  m2v: 'video/mpeg',
  ts: 'video/mp2t',
  mts: 'video/mp2t',
  m2ts: 'video/mp2t',
  '3gp': 'video/3gpp',
  '3g2': 'video/3gpp2',
  ogv: 'video/ogg',
  ogg: 'video/ogg',
  avi: 'video/x-msvideo',
  flv: 'video/x-flv',
  wmv: 'video/x-ms-wmv',
  hevc: 'video/h265',
  h265: 'video/h265',
  h264: 'video/h264',
  '264': 'video/h264',
  m4a: 'audio/mp4',
  aac: 'audio/aac',
  mp3: 'audio/mpeg',
  oga: 'audio/ogg',
  opus: 'audio/opus',
  wav: 'audio/wav',
  flac: 'audio/flac',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  png: 'image/png',
  gif: 'image/gif',
  webp: 'image/webp',
  avif: 'image/avif',
  vtt: 'text/vtt',
  srt: 'application/x-subrip',
  m3u8: 'application/vnd.apple.mpegurl',
  mpd: 'application/dash+xml',
};

/** Types a backend reports when it does not know better; the extension is more telling. */
const GENERIC_TYPES = new Set(['application/octet-stream', 'binary/octet-stream', 'application/x-unknown']);

/**
 * The media type a source path implies by its extension (case-insensitive), or `undefined`
 * when the extension is unknown. Only a hint: the media layer sniffs the bytes before trusting it.
 */
export function contentTypeFromPath(path: string): string | undefined {
  const name = path.slice(path.lastIndexOf('/') + 1);
  const dot = name.lastIndexOf('.');
  if (dot <= 0) return undefined;
  return BY_EXTENSION[name.slice(dot + 1).toLowerCase()];
}

/**
 * The better of a backend's `Content-Type` and the extension's type: the backend's unless it is
 * missing or generic (`application/octet-stream`, S3's `binary/octet-stream`). Parameters such as
 * `; charset=` are dropped.
 */
export function chooseContentType(reported: string | undefined, path: string): string | undefined {
  const bare = reported?.split(';')[0]?.trim().toLowerCase();
  if (bare && !GENERIC_TYPES.has(bare)) return bare;
  return contentTypeFromPath(path) ?? bare;
}

/**
 * Whether a path's extension names a video or audio type: the sources the proxy transforms, as
 * opposed to images, playlists or other files that may share an origin folder.
 */
export function isMediaPath(path: string): boolean {
  const type = contentTypeFromPath(path);
  return type !== undefined && (type.startsWith('video/') || type.startsWith('audio/'));
}
