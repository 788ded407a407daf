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
  | 'wav';

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
