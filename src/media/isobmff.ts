import { type Box, BoxReader, lenient, readBoxHeader } from './boxes.js';
import type { AudioStreamInfo, MediaInfo, VideoStreamInfo } from './types.js';

/**
 * Reads what planning needs straight from an MP4/MOV/3GP index (the `moov` box), without
 * starting ffprobe: a cold thumbnail then costs one ffmpeg run instead of two processes. Pure:
 * takes bytes, returns `MediaInfo`, or `undefined` whenever the file is anything but a plain,
 * complete ISO BMFF file (fragmented, no duration, unknown layout), so the caller falls back to
 * ffprobe rather than guess.
 *
 * Hostile indexes: every declared size and count is checked against the bytes that hold it
 * before it is used (see `boxes.ts`), so an absurd value ends in `undefined`, never in a large
 * allocation or a long loop. Absurd but well-formed facts (a 2^32 s duration, a 65535x65535
 * frame) are reported as the finite numbers they are, so the limits in `plan/` refuse them
 * without starting ffprobe.
 */

/** The name ffprobe gives this family of containers; kept identical for the metadata document. */
const ISOBMFF_FORMAT_NAME = 'mov,mp4,m4a,3gp,3g2,mj2';

/** Largest `moov` the proxy reads itself; bigger indexes go to ffprobe. */
export const MAX_MOOV_BYTES = 32 * 1024 * 1024;

/** Timescale and duration (in timescale units) of an `mvhd` or `mdhd` box (same layout for these fields). */
function timing(r: BoxReader, box: Box): { timescale: number; duration: number } {
  const { version } = r.fullBox(box);
  if (version > 1) r.fail(`'${box.type}' version ${version} is unknown`);
  const timescale = r.u32(box, version === 1 ? 20 : 12);
  const duration = version === 1 ? r.u64(box, 24) : BigInt(r.u32(box, 16));
  // A timescale of 0 makes every duration infinite; ffmpeg guesses 1, ffprobe can do that guessing.
  if (timescale === 0) r.fail(`'${box.type}' timescale is 0`);
  // All ones is "unknown" in a 64-bit field; anything past 2^53 has no exact double either.
  if (duration > BigInt(Number.MAX_SAFE_INTEGER)) r.fail(`'${box.type}' duration ${duration} is not usable`);
  return { timescale, duration: Number(duration) };
}

/** Clockwise display rotation from a `tkhd` matrix (only the four right-angle cases). */
function rotationOf(r: BoxReader, tkhd: Box): 0 | 90 | 180 | 270 {
  const matrix = r.fullBox(tkhd).version === 1 ? 52 : 40;
  if (matrix + 36 > tkhd.end - tkhd.start) return 0;
  const a = r.i32(tkhd, matrix);
  const b = r.i32(tkhd, matrix + 4);
  const degrees = Math.round((Math.atan2(b, a) * 180) / Math.PI);
  return ((((Math.round(degrees / 90) * 90) % 360) + 360) % 360) as 0 | 90 | 180 | 270;
}

const VIDEO_CODECS: Record<string, string> = {
  avc1: 'h264',
  avc3: 'h264',
  hvc1: 'hevc',
  hev1: 'hevc',
  av01: 'av1',
  vp09: 'vp9',
  vp08: 'vp8',
  mp4v: 'mpeg4',
  s263: 'h263',
  h263: 'h263',
  jpeg: 'mjpeg',
  mjpa: 'mjpeg',
  apcn: 'prores',
  apch: 'prores',
  apcs: 'prores',
  apco: 'prores',
  ap4h: 'prores',
};

const AUDIO_CODECS: Record<string, string> = {
  Opus: 'opus',
  'ac-3': 'ac3',
  'ec-3': 'eac3',
  alac: 'alac',
  fLaC: 'flac',
  samr: 'amr_nb',
  sawb: 'amr_wb',
  '.mp3': 'mp3',
};

/** Reads an MPEG-4 descriptor length (1 to 4 bytes of 7 bits); `byte` answers undefined past the end. */
function descriptorLength(
  byte: (at: number) => number | undefined,
  offset: number,
): { length: number; next: number } | undefined {
  let length = 0;
  for (let i = 0; i < 4; i++) {
    const value = byte(offset++);
    if (value === undefined) return undefined;
    length = (length << 7) | (value & 0x7f);
    if ((value & 0x80) === 0) return { length, next: offset };
  }
  return undefined;
}

/**
 * The codec of an `mp4a` entry from its `esds` object type (AAC unless it says MP3), and for AAC
 * the channel count of its AudioSpecificConfig: the sample entry's own channel field is a fixed
 * 2 in MP4 files, mono or not.
 */
function mp4aDetails(r: BoxReader, esds: Box | undefined): { codec: string; channels?: number } {
  const aac = { codec: 'aac' };
  if (!esds) return aac;
  const size = esds.end - esds.start;
  const byte = (at: number): number | undefined => (at >= 0 && at < size ? r.u8(esds, at) : undefined);
  // Payload: version/flags (4), then the ES_Descriptor (tag 3).
  let offset = 4;
  if (byte(offset) !== 0x03) return aac;
  const es = descriptorLength(byte, offset + 1);
  if (!es) return aac;
  offset = es.next + 2;
  const flags = byte(offset++) ?? 0;
  if (flags & 0x80) offset += 2; // dependsOn_ES_ID
  if (flags & 0x40) offset += 1 + (byte(offset) ?? 0); // URL
  if (flags & 0x20) offset += 2; // OCR_ES_ID
  if (byte(offset) !== 0x04) return aac;
  const config = descriptorLength(byte, offset + 1);
  if (!config) return aac;
  const objectType = byte(config.next);
  if (objectType === 0x69 || objectType === 0x6b) return { codec: 'mp3' };
  offset = config.next + 13;
  if (byte(offset) !== 0x05) return aac;
  const specific = descriptorLength(byte, offset + 1);
  if (!specific || specific.length < 2 || specific.next + 2 > size) return aac;
  // AudioSpecificConfig: 5 bits object type (31: 6 more), 4 bits rate index (15: a 24-bit rate),
  // 4 bits channels. At most 7 + 24 bits are ever held, so `bits` stays within 32 bits.
  let bits = 0;
  let bitCount = 0;
  let cursor = specific.next;
  const read = (count: number): number => {
    while (bitCount < count) {
      const value = byte(cursor++);
      if (value === undefined) return 0;
      bits = ((bits << 8) | value) >>> 0;
      bitCount += 8;
    }
    bitCount -= count;
    return (bits >>> bitCount) & ((1 << count) - 1);
  };
  if (read(5) === 31) read(6);
  if (read(4) === 15) read(24);
  const channelConfig = read(4);
  const channels =
    channelConfig === 7 ? 8 : channelConfig > 0 && channelConfig < 7 ? channelConfig : undefined;
  return { codec: 'aac', channels };
}

interface Track {
  kind: 'video' | 'audio' | 'other';
  codec: string;
  /** Presentation length of the samples (the `stts` total over the media timescale). */
  seconds: number;
  samples: number;
  sampleBytes: number;
  width: number;
  height: number;
  rotation: 0 | 90 | 180 | 270;
  sampleRate: number;
  channels: number;
}

/** Sample count and total sample bytes from `stsz`; a table longer than its box is malformed. */
function sampleSizes(r: BoxReader, stsz: Box): { count: number; bytes: number } {
  const uniform = r.u32(stsz, 4);
  const count = r.u32(stsz, 8);
  if (uniform !== 0) return { count, bytes: uniform * count };
  const first = stsz.start + r.table(stsz, 12, count, 4);
  let bytes = 0;
  // `table` checked that all `count` entries lie inside the box.
  for (let i = 0; i < count; i++) bytes += r.buffer.readUInt32BE(first + i * 4);
  return { count, bytes };
}

/** Sample count and total duration (media timescale units) from `stts`, checked against its box. */
function sampleTimes(r: BoxReader, stts: Box): { count: number; ticks: number } {
  const entries = r.u32(stts, 4);
  const first = stts.start + r.table(stts, 8, entries, 8);
  let count = 0;
  let ticks = 0;
  // `table` checked that all entries lie inside the box; sums stay finite (< 2^32 * 2^32 * 2^29).
  for (let i = 0; i < entries; i++) {
    const samples = r.buffer.readUInt32BE(first + i * 8);
    count += samples;
    ticks += samples * r.buffer.readUInt32BE(first + i * 8 + 4);
  }
  return { count, ticks };
}

function readTrack(r: BoxReader, trak: Box): Track {
  const tkhd = r.child(trak, 'tkhd') ?? r.fail('trak without tkhd');
  const mdia = r.child(trak, 'mdia') ?? r.fail('trak without mdia');
  const mdhd = r.child(mdia, 'mdhd') ?? r.fail('mdia without mdhd');
  const hdlr = r.child(mdia, 'hdlr') ?? r.fail('mdia without hdlr');
  const stbl = r.path(mdia, ['minf', 'stbl']) ?? r.fail('mdia without minf/stbl');
  const stsd = r.child(stbl, 'stsd') ?? r.fail('stbl without stsd');
  const stsz = r.child(stbl, 'stsz') ?? r.fail('stbl without stsz');
  const stts = r.child(stbl, 'stts') ?? r.fail('stbl without stts');
  const media = timing(r, mdhd);
  const sizes = sampleSizes(r, stsz);
  const times = sampleTimes(r, stts);
  if (times.count !== sizes.count) r.fail(`stts lists ${times.count} samples, stsz ${sizes.count}`);
  const handler = r.fourcc(hdlr, 8);
  const track: Track = {
    kind: handler === 'vide' ? 'video' : handler === 'soun' ? 'audio' : 'other',
    codec: 'unknown',
    seconds: times.ticks / media.timescale,
    samples: sizes.count,
    sampleBytes: sizes.bytes,
    width: 0,
    height: 0,
    rotation: rotationOf(r, tkhd),
    sampleRate: media.timescale,
    channels: 0,
  };
  if (r.u32(stsd, 4) === 0 || stsd.start + 8 > stsd.end) return track;
  const entry = r.children({ start: stsd.start + 8, end: stsd.end })[0];
  if (!entry) return track;
  if (track.kind === 'video') {
    track.codec = VIDEO_CODECS[entry.type] ?? entry.type.trim();
    // 16-bit fields: a declared size is at most 65535x65535, which the pixel limit refuses.
    track.width = r.u16(entry, 24);
    track.height = r.u16(entry, 26);
  } else if (track.kind === 'audio') {
    const version = r.u16(entry, 8);
    track.channels = r.u16(entry, 16);
    if (version < 2) track.sampleRate = r.u32(entry, 24) >>> 16 || track.sampleRate;
    // Child boxes follow the fixed fields: 28 bytes, 16 more in version 1, 36 more in version 2.
    const extensions = entry.start + 28 + (version === 1 ? 16 : version === 2 ? 36 : 0);
    if (entry.type === 'mp4a') {
      const esds =
        extensions <= entry.end
          ? r.children({ start: extensions, end: entry.end }).find((b) => b.type === 'esds')
          : undefined;
      const details = mp4aDetails(r, esds);
      track.codec = details.codec;
      if (details.channels) track.channels = details.channels;
    } else {
      track.codec = AUDIO_CODECS[entry.type] ?? entry.type.trim();
    }
  }
  return track;
}

function readMoov(r: BoxReader, fileSize: number): MediaInfo | undefined {
  const root = r.children()[0];
  if (root?.type !== 'moov') return undefined;
  if (r.child(root, 'mvex')) return undefined;
  const mvhd = r.child(root, 'mvhd') ?? r.fail('moov without mvhd');
  const movie = timing(r, mvhd);
  if (movie.duration === 0) return undefined;
  const tracks = r
    .children(root)
    .filter((box) => box.type === 'trak')
    .map((trak) => readTrack(r, trak));
  // The first track of each kind, as ffprobe's reading picks them. One that cannot say its size,
  // frame count or length is left to ffprobe rather than skipped (skipping it would hide a video).
  const videoTrack = tracks.find((t) => t.kind === 'video');
  const audioTrack = tracks.find((t) => t.kind === 'audio');
  if (videoTrack && (videoTrack.width === 0 || videoTrack.height === 0 || videoTrack.samples <= 1)) {
    return undefined;
  }
  if (audioTrack && audioTrack.samples === 0) return undefined;
  if ((videoTrack && videoTrack.seconds <= 0) || (audioTrack && audioTrack.seconds <= 0)) return undefined;
  if (!videoTrack && !audioTrack) return undefined;
  const totalSampleBytes = tracks.reduce((sum, t) => sum + t.sampleBytes, 0);
  if (totalSampleBytes > fileSize) return undefined;
  const duration = movie.duration / movie.timescale;
  let video: VideoStreamInfo | undefined;
  if (videoTrack) {
    const swap = videoTrack.rotation === 90 || videoTrack.rotation === 270;
    video = {
      codec: videoTrack.codec,
      codedWidth: videoTrack.width,
      codedHeight: videoTrack.height,
      width: swap ? videoTrack.height : videoTrack.width,
      height: swap ? videoTrack.width : videoTrack.height,
      rotation: videoTrack.rotation,
      frameRate: videoTrack.samples / videoTrack.seconds,
      pixelFormat: 'unknown',
      bitRate: Math.round((videoTrack.sampleBytes * 8) / videoTrack.seconds),
    };
  }
  let audio: AudioStreamInfo | undefined;
  if (audioTrack) {
    audio = {
      codec: audioTrack.codec,
      sampleRate: audioTrack.sampleRate,
      channels: audioTrack.channels,
      bitRate: Math.round((audioTrack.sampleBytes * 8) / audioTrack.seconds),
    };
  }
  return {
    formatName: ISOBMFF_FORMAT_NAME,
    duration,
    // Truncated like ffprobe (integer arithmetic), so the metadata document agrees with it.
    bitRate: Math.floor((fileSize * 8) / duration),
    size: fileSize,
    video,
    audio,
    streamCount: tracks.length,
  };
}

/**
 * Parses a complete `moov` box (header included) of a file of `fileSize` bytes. Returns
 * `undefined` for fragmented files, missing or unusable durations and timescales, tracks it
 * cannot read, tables that claim more entries than their boxes hold, or an index that lists more
 * sample bytes than the file holds (left to ffprobe and the truncation check there). Never
 * throws for any input; every number it reports is finite and non-negative.
 */
export function parseMoov(moov: Buffer, fileSize: number): MediaInfo | undefined {
  if (!Number.isSafeInteger(fileSize) || fileSize <= 0) return undefined;
  return lenient(() => readMoov(new BoxReader(moov, { mode: 'lenient' }), fileSize));
}

/**
 * Where the `moov` box is, from the top-level box headers seen so far. `head` holds the file's
 * first bytes at offset `headOffset`. Returns the box's range, or the offset of the next
 * top-level header to read when `head` ends before reaching `moov`, or `undefined` when the
 * layout is not a plain sequence of top-level boxes (including any box that claims to run past
 * the end of the file).
 */
export function locateMoov(
  head: Buffer,
  headOffset: number,
  fileSize: number,
): { moov: { offset: number; size: number } } | { next: number } | undefined {
  if (!Number.isSafeInteger(headOffset) || !Number.isSafeInteger(fileSize) || headOffset < 0)
    return undefined;
  let offset = 0;
  while (offset + 8 <= head.length) {
    const absolute = headOffset + offset;
    const header = readBoxHeader(head, offset, fileSize - headOffset);
    // A 64-bit size (or uuid) cut off by the end of `head`: read again from this box.
    if (!header) return { next: absolute };
    const { type, size } = header;
    if (!/^[\x20-\x7e]{4}$/.test(type) || size < header.headerSize) return undefined;
    if (type === 'moov')
      return absolute + size <= fileSize ? { moov: { offset: absolute, size } } : undefined;
    if (absolute + size >= fileSize) return undefined;
    if (offset + size + 8 > head.length) return { next: absolute + size };
    offset += size;
  }
  return { next: headOffset + offset };
}
