/**
 * Decides which ffmpeg demuxer may open a source from its first bytes. ffmpeg is then forced to
 * that demuxer (`-f`), so a text playlist or concat script renamed to `.mp4` is never opened by
 * the HLS or concat demuxers, which would follow the URLs inside it.
 */

/** Demuxers the proxy lets ffmpeg use, keyed by what the bytes look like. */
export type Demuxer =
  | 'mov'
  | 'matroska'
  | 'mpeg'
  | 'mpegts'
  | 'ogg'
  | 'avi'
  | 'hevc'
  | 'h264'
  | 'flv'
  | 'mp3'
  | 'wav'
  | 'gif';

/** How many leading bytes `sniffDemuxer` wants to see. */
export const SNIFF_BYTES = 4096;

const MP4_BOX_TYPES = new Set(['ftyp', 'moov', 'mdat', 'free', 'skip', 'wide', 'pnot', 'uuid']);

function ascii(head: Buffer, start: number, length: number): string {
  return head.subarray(start, start + length).toString('latin1');
}

function looksLikeMpegTs(head: Buffer, packetSize: number, offset: number): boolean {
  if (head.length < offset + packetSize * 2 + 1)
    return head.length > offset && head[offset] === 0x47 && head.length < 400;
  return (
    head[offset] === 0x47 && head[offset + packetSize] === 0x47 && head[offset + packetSize * 2] === 0x47
  );
}

/** True when the bytes start with an Annex B start code followed by an HEVC VPS/SPS/PPS/AUD NAL. */
function annexBNalType(head: Buffer): { hevc: number; h264: number } | undefined {
  let offset = -1;
  if (head.length >= 5 && head[0] === 0 && head[1] === 0 && head[2] === 0 && head[3] === 1) offset = 4;
  else if (head.length >= 4 && head[0] === 0 && head[1] === 0 && head[2] === 1) offset = 3;
  if (offset < 0) return undefined;
  const byte = head[offset]!;
  return { hevc: (byte >> 1) & 0x3f, h264: byte & 0x1f };
}

/**
 * Returns the demuxer for a source, or `undefined` when the bytes are not a container we accept.
 * Pure: looks only at `head` (the first `SNIFF_BYTES` bytes or fewer).
 */
export function sniffDemuxer(head: Buffer): Demuxer | undefined {
  if (head.length < 8) return undefined;
  const boxType = ascii(head, 4, 4);
  if (MP4_BOX_TYPES.has(boxType)) return 'mov';
  if (head.readUInt32BE(0) === 0x1a45dfa3) return 'matroska';
  if (head.readUInt32BE(0) === 0x000001ba) return 'mpeg';
  if (head.readUInt32BE(0) === 0x000001b3) return 'mpeg'; // elementary MPEG-1/2 video
  if (ascii(head, 0, 4) === 'OggS') return 'ogg';
  if (ascii(head, 0, 4) === 'RIFF' && ascii(head, 8, 4) === 'AVI ') return 'avi';
  if (ascii(head, 0, 4) === 'RIFF' && ascii(head, 8, 4) === 'WAVE') return 'wav';
  if (ascii(head, 0, 3) === 'FLV') return 'flv';
  // An animated GIF is a (silent) video source: `/ik-gif-video.mp4` delivers it as MP4 or WebM.
  if (ascii(head, 0, 6) === 'GIF87a' || ascii(head, 0, 6) === 'GIF89a') return 'gif';
  if (looksLikeMpegTs(head, 188, 0)) return 'mpegts';
  if (looksLikeMpegTs(head, 192, 4)) return 'mpegts'; // M2TS / .mts: 4-byte timecode before each packet
  if (ascii(head, 0, 3) === 'ID3' || (head[0] === 0xff && (head[1]! & 0xe0) === 0xe0)) return 'mp3';
  const nal = annexBNalType(head);
  if (nal) {
    if ([32, 33, 34, 35].includes(nal.hevc)) return 'hevc';
    if ([7, 9].includes(nal.h264)) return 'h264';
  }
  return undefined;
}

/** How an original is served: a media type taken from its bytes, never from its name or origin. */
export interface OriginalDescription {
  /** `video/*` or `audio/*` for a container the proxy recognises, else `application/octet-stream`. */
  contentType: string;
  /** False for anything that is not audio or video: it is sent as a download, never rendered. */
  media: boolean;
}

/** What anything unrecognised is served as: bytes a browser has no reason to render. */
export const NOT_MEDIA: OriginalDescription = { contentType: 'application/octet-stream', media: false };

/** MIME types of the ISO BMFF family by `ftyp` major brand (the first four bytes that matter). */
function isoBmffType(head: Buffer): string {
  if (ascii(head, 4, 4) !== 'ftyp') {
    // Classic QuickTime files start straight with moov, mdat, wide or free: no ftyp at all.
    return 'video/quicktime';
  }
  const brand = ascii(head, 8, 4);
  if (brand === 'qt  ') return 'video/quicktime';
  if (brand.startsWith('3g2')) return onlySound(head) ? 'audio/3gpp2' : 'video/3gpp2';
  if (brand.startsWith('3g')) return onlySound(head) ? 'audio/3gpp' : 'video/3gpp';
  if (brand === 'M4A ' || brand === 'M4B ' || brand === 'M4P ' || brand === 'F4A ') return 'audio/mp4';
  return onlySound(head) ? 'audio/mp4' : 'video/mp4';
}

/**
 * True when the whole `moov` box lies inside `head` and its tracks' handlers name sound and no
 * picture. A `moov` that starts past `head` or runs beyond it says nothing, so the answer is
 * then false (video): calling audio a video only costs a player's guess, not safety.
 */
function onlySound(head: Buffer): boolean {
  let offset = 0;
  while (offset + 8 <= head.length) {
    const size = head.readUInt32BE(offset);
    const type = ascii(head, offset + 4, 4);
    if (type === 'moov') {
      if (size < 8 || offset + size > head.length) return false;
      const moov = head.subarray(offset, offset + size);
      // hdlr payload: version/flags (4), pre_defined (4), then the handler type.
      const handlers: string[] = [];
      for (let at = moov.indexOf('hdlr'); at >= 0; at = moov.indexOf('hdlr', at + 4)) {
        handlers.push(ascii(moov, at + 12, 4));
      }
      return handlers.includes('soun') && !handlers.includes('vide');
    }
    if (size < 8) return false; // 0 (to the end) or 1 (64-bit size): moov is not in the head
    offset += size;
  }
  return false;
}

/**
 * Matroska and WebM by the EBML DocType; audio when every CodecID seen in `head` is an audio
 * codec. Tracks usually sit in the first few kilobytes; when they do not, video is assumed.
 */
function matroskaType(head: Buffer): string {
  const webm = head.subarray(0, 64).includes('webm');
  const codecs: string[] = [];
  // CodecID element: ID 0x86, a one-byte size (0x80 | length), then an ASCII id such as V_VP9.
  for (let at = head.indexOf(0x86); at >= 0 && at + 4 < head.length; at = head.indexOf(0x86, at + 1)) {
    const size = head[at + 1]!;
    if (size < 0x81 || size > 0xa0) continue;
    const id = ascii(head, at + 2, size & 0x7f);
    if (/^[VAS]_[A-Z0-9/_.-]+$/.test(id)) codecs.push(id);
  }
  const audioOnly = codecs.some((id) => id.startsWith('A_')) && !codecs.some((id) => id.startsWith('V_'));
  if (webm) return audioOnly ? 'audio/webm' : 'video/webm';
  return audioOnly ? 'audio/x-matroska' : 'video/x-matroska';
}

/** Ogg by the codecs its first (beginning-of-stream) pages announce. */
function oggType(head: Buffer): string {
  const video = ['\x80theora', 'OVP80', '\x80daala', 'BBCD'].some((mark) => head.includes(mark, 0, 'latin1'));
  return video ? 'video/ogg' : 'audio/ogg';
}

/**
 * Describes an original from its first bytes (`SNIFF_BYTES` or fewer): the media type of the
 * container the bytes are, whatever the file is called or the origin says. Anything that is not
 * a recognised audio or video container is `application/octet-stream` with `media: false`, so
 * an HTML or SVG file stored under a video name is never served as something a browser renders.
 * Pure.
 */
export function describeOriginal(head: Buffer): OriginalDescription {
  const demuxer = sniffDemuxer(head);
  if (!demuxer) return NOT_MEDIA;
  const contentType = CONTAINER_TYPES[demuxer](head);
  return { contentType, media: true };
}

const CONTAINER_TYPES: Record<Demuxer, (head: Buffer) => string> = {
  mov: isoBmffType,
  matroska: matroskaType,
  ogg: oggType,
  mpeg: () => 'video/mpeg',
  mpegts: () => 'video/mp2t',
  avi: () => 'video/x-msvideo',
  flv: () => 'video/x-flv',
  // The registered types of the raw Annex B elementary streams (RFC 7798, RFC 6184).
  hevc: () => 'video/H265',
  h264: () => 'video/H264',
  mp3: () => 'audio/mpeg',
  wav: () => 'audio/wav',
  gif: () => 'image/gif',
};
