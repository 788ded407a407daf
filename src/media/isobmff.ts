import type { AudioStreamInfo, MediaInfo, VideoStreamInfo } from './types.js';

/**
 * Reads what planning needs straight from an MP4/MOV/3GP index (the `moov` box), without
 * starting ffprobe: a cold thumbnail then costs one ffmpeg run instead of two processes. Pure:
 * takes bytes, returns `MediaInfo`, or `undefined` whenever the file is anything but a plain,
 * complete ISO BMFF file (fragmented, no duration, unknown layout), so the caller falls back to
 * ffprobe rather than guess.
 */

/** The name ffprobe gives this family of containers; kept identical for the metadata document. */
export const ISOBMFF_FORMAT_NAME = 'mov,mp4,m4a,3gp,3g2,mj2';

/** Largest `moov` the proxy reads itself; bigger indexes go to ffprobe. */
export const MAX_MOOV_BYTES = 32 * 1024 * 1024;

interface Box {
  type: string;
  /** Offset of the payload inside the buffer. */
  start: number;
  /** End of the box (exclusive). */
  end: number;
}

/** Walks the boxes between `start` and `end` of `buffer`; stops at anything malformed. */
function* boxes(buffer: Buffer, start = 0, end = buffer.length): Generator<Box> {
  let offset = start;
  while (offset + 8 <= end) {
    let size = buffer.readUInt32BE(offset);
    const type = buffer.toString('latin1', offset + 4, offset + 8);
    let header = 8;
    if (size === 1) {
      if (offset + 16 > end) return;
      const large = buffer.readBigUInt64BE(offset + 8);
      if (large > BigInt(Number.MAX_SAFE_INTEGER)) return;
      size = Number(large);
      header = 16;
    } else if (size === 0) size = end - offset;
    if (size < header || offset + size > end) return;
    yield { type, start: offset + header, end: offset + size };
    offset += size;
  }
}

function child(buffer: Buffer, parent: Box, type: string): Box | undefined {
  for (const box of boxes(buffer, parent.start, parent.end)) if (box.type === type) return box;
  return undefined;
}

function path(buffer: Buffer, parent: Box, ...types: string[]): Box | undefined {
  let current: Box | undefined = parent;
  for (const type of types) {
    if (!current) return undefined;
    current = child(buffer, current, type);
  }
  return current;
}

/** Timescale and duration of an `mvhd` or `mdhd` box (same layout for these fields). */
function timing(buffer: Buffer, box: Box): { timescale: number; duration: number } | undefined {
  const version = buffer[box.start];
  if (version === 1) {
    if (box.start + 32 > box.end) return undefined;
    return {
      timescale: buffer.readUInt32BE(box.start + 20),
      duration: Number(buffer.readBigUInt64BE(box.start + 24)),
    };
  }
  if (box.start + 20 > box.end) return undefined;
  return { timescale: buffer.readUInt32BE(box.start + 12), duration: buffer.readUInt32BE(box.start + 16) };
}

/** Clockwise display rotation from a `tkhd` matrix (only the four right-angle cases). */
function rotationOf(buffer: Buffer, tkhd: Box): 0 | 90 | 180 | 270 {
  const version = buffer[tkhd.start];
  const matrix = tkhd.start + (version === 1 ? 52 : 40);
  if (matrix + 36 > tkhd.end) return 0;
  const a = buffer.readInt32BE(matrix);
  const b = buffer.readInt32BE(matrix + 4);
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

/** Reads an MPEG-4 descriptor length (1 to 4 bytes of 7 bits). */
function descriptorLength(
  buffer: Buffer,
  offset: number,
  end: number,
): { length: number; next: number } | undefined {
  let length = 0;
  for (let i = 0; i < 4 && offset < end; i++) {
    const byte = buffer[offset++]!;
    length = (length << 7) | (byte & 0x7f);
    if ((byte & 0x80) === 0) return { length, next: offset };
  }
  return undefined;
}

const AAC_SAMPLE_RATES = [
  96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/**
 * The codec of an `mp4a` entry from its `esds` object type (AAC unless it says MP3), and for AAC
 * the channel count and sample rate of its AudioSpecificConfig: the sample entry's own channel
 * field is a fixed 2 in MP4 files, mono or not.
 */
function mp4aDetails(
  buffer: Buffer,
  esds: Box | undefined,
): { codec: string; channels?: number; sampleRate?: number } {
  if (!esds) return { codec: 'aac' };
  let offset = esds.start + 4;
  if (buffer[offset] !== 0x03) return { codec: 'aac' };
  const es = descriptorLength(buffer, offset + 1, esds.end);
  if (!es) return { codec: 'aac' };
  offset = es.next + 2;
  const flags = buffer[offset++] ?? 0;
  if (flags & 0x80) offset += 2;
  if (flags & 0x40) offset += 1 + (buffer[offset] ?? 0);
  if (flags & 0x20) offset += 2;
  if (buffer[offset] !== 0x04) return { codec: 'aac' };
  const config = descriptorLength(buffer, offset + 1, esds.end);
  if (!config) return { codec: 'aac' };
  const objectType = buffer[config.next];
  if (objectType === 0x69 || objectType === 0x6b) return { codec: 'mp3' };
  offset = config.next + 13;
  if (buffer[offset] !== 0x05) return { codec: 'aac' };
  const specific = descriptorLength(buffer, offset + 1, esds.end);
  if (!specific || specific.length < 2 || specific.next + 2 > esds.end) return { codec: 'aac' };
  // AudioSpecificConfig: 5 bits object type, 4 bits rate index (15: 24-bit rate), 4 bits channels.
  let bits = 0;
  let bitCount = 0;
  let cursor = specific.next;
  const read = (count: number): number => {
    while (bitCount < count && cursor < esds.end) {
      bits = (bits << 8) | buffer[cursor++]!;
      bitCount += 8;
    }
    bitCount -= count;
    return (bits >>> bitCount) & ((1 << count) - 1);
  };
  let audioObjectType = read(5);
  if (audioObjectType === 31) audioObjectType = 32 + read(6);
  const rateIndex = read(4);
  const sampleRate = rateIndex === 15 ? read(24) : AAC_SAMPLE_RATES[rateIndex];
  const channelConfig = read(4);
  const channels =
    channelConfig === 7 ? 8 : channelConfig > 0 && channelConfig < 7 ? channelConfig : undefined;
  return { codec: 'aac', channels, sampleRate };
}

interface Track {
  kind: 'video' | 'audio' | 'other';
  codec: string;
  seconds: number;
  samples: number;
  sampleBytes: number;
  width: number;
  height: number;
  rotation: 0 | 90 | 180 | 270;
  sampleRate: number;
  channels: number;
}

function sampleBytes(buffer: Buffer, stsz: Box | undefined): { count: number; bytes: number } | undefined {
  if (!stsz || stsz.start + 12 > stsz.end) return undefined;
  const uniform = buffer.readUInt32BE(stsz.start + 4);
  const count = buffer.readUInt32BE(stsz.start + 8);
  if (uniform !== 0) return { count, bytes: uniform * count };
  if (stsz.start + 12 + count * 4 > stsz.end) return undefined;
  let bytes = 0;
  for (let i = 0; i < count; i++) bytes += buffer.readUInt32BE(stsz.start + 12 + i * 4);
  return { count, bytes };
}

function readTrack(buffer: Buffer, trak: Box): Track | undefined {
  const tkhd = child(buffer, trak, 'tkhd');
  const mdia = child(buffer, trak, 'mdia');
  if (!tkhd || !mdia) return undefined;
  const mdhd = child(buffer, mdia, 'mdhd');
  const hdlr = child(buffer, mdia, 'hdlr');
  const stbl = path(buffer, mdia, 'minf', 'stbl');
  if (!mdhd || !hdlr || !stbl) return undefined;
  const time = timing(buffer, mdhd);
  if (!time || time.timescale === 0) return undefined;
  const handler = buffer.toString('latin1', hdlr.start + 8, hdlr.start + 12);
  const stsd = child(buffer, stbl, 'stsd');
  const sizes = sampleBytes(buffer, child(buffer, stbl, 'stsz'));
  const track: Track = {
    kind: handler === 'vide' ? 'video' : handler === 'soun' ? 'audio' : 'other',
    codec: 'unknown',
    seconds: time.duration / time.timescale,
    samples: sizes?.count ?? 0,
    sampleBytes: sizes?.bytes ?? 0,
    width: 0,
    height: 0,
    rotation: rotationOf(buffer, tkhd),
    sampleRate: time.timescale,
    channels: 0,
  };
  if (!stsd || stsd.start + 16 > stsd.end) return track;
  const entryStart = stsd.start + 8;
  const entry = [...boxes(buffer, entryStart, stsd.end)][0];
  if (!entry) return track;
  if (track.kind === 'video') {
    track.codec = VIDEO_CODECS[entry.type] ?? entry.type.trim();
    if (entry.start + 28 <= entry.end) {
      track.width = buffer.readUInt16BE(entry.start + 24);
      track.height = buffer.readUInt16BE(entry.start + 26);
    }
  } else if (track.kind === 'audio') {
    if (entry.start + 28 <= entry.end) {
      const version = buffer.readUInt16BE(entry.start + 8);
      track.channels = buffer.readUInt16BE(entry.start + 16);
      if (version < 2) track.sampleRate = buffer.readUInt32BE(entry.start + 24) >>> 16 || track.sampleRate;
    }
    const extensions = entry.start + 28 + (buffer.readUInt16BE(entry.start + 8) === 1 ? 16 : 0);
    if (entry.type === 'mp4a') {
      const esds = [...boxes(buffer, extensions, entry.end)].find((b) => b.type === 'esds');
      const details = mp4aDetails(buffer, esds);
      track.codec = details.codec;
      if (details.channels) track.channels = details.channels;
    } else {
      track.codec = AUDIO_CODECS[entry.type] ?? entry.type.trim();
    }
  }
  return track;
}

/**
 * Parses a complete `moov` box (header included) of a file of `fileSize` bytes. Returns
 * `undefined` for fragmented files, missing durations, tracks it cannot read, or an index that
 * lists more sample bytes than the file holds (left to ffprobe and the truncation check there).
 */
export function parseMoov(moov: Buffer, fileSize: number): MediaInfo | undefined {
  const root = [...boxes(moov)][0];
  if (root?.type !== 'moov') return undefined;
  if (child(moov, root, 'mvex')) return undefined;
  const mvhd = child(moov, root, 'mvhd');
  const movie = mvhd ? timing(moov, mvhd) : undefined;
  if (!movie || movie.timescale === 0 || movie.duration === 0) return undefined;
  const tracks: Track[] = [];
  for (const box of boxes(moov, root.start, root.end)) {
    if (box.type !== 'trak') continue;
    const track = readTrack(moov, box);
    if (!track) return undefined;
    tracks.push(track);
  }
  const videoTrack = tracks.find((t) => t.kind === 'video' && t.width > 0 && t.height > 0 && t.samples > 1);
  const audioTrack = tracks.find((t) => t.kind === 'audio' && t.samples > 0);
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
      frameRate: videoTrack.seconds > 0 ? videoTrack.samples / videoTrack.seconds : 0,
      pixelFormat: 'unknown',
      bitRate: videoTrack.seconds > 0 ? Math.round((videoTrack.sampleBytes * 8) / videoTrack.seconds) : 0,
    };
  }
  let audio: AudioStreamInfo | undefined;
  if (audioTrack) {
    audio = {
      codec: audioTrack.codec,
      sampleRate: audioTrack.sampleRate,
      channels: audioTrack.channels,
      bitRate: audioTrack.seconds > 0 ? Math.round((audioTrack.sampleBytes * 8) / audioTrack.seconds) : 0,
    };
  }
  return {
    formatName: ISOBMFF_FORMAT_NAME,
    duration,
    // Truncated like ffprobe (integer arithmetic), so the metadata document agrees with it.
    bitRate: duration > 0 ? Math.floor((fileSize * 8) / duration) : 0,
    size: fileSize,
    video,
    audio,
    streamCount: tracks.length,
  };
}

/**
 * Where the `moov` box is, from the top-level box headers seen so far. `head` holds the file's
 * first bytes at offset `headOffset`. Returns the box's range, or the offset of the next
 * top-level header to read when `head` ends before reaching `moov`, or `undefined` when the
 * layout is not a plain sequence of top-level boxes.
 */
export function locateMoov(
  head: Buffer,
  headOffset: number,
  fileSize: number,
): { moov: { offset: number; size: number } } | { next: number } | undefined {
  let offset = 0;
  while (offset + 8 <= head.length) {
    let size = head.readUInt32BE(offset);
    const type = head.toString('latin1', offset + 4, offset + 8);
    if (size === 1) {
      if (offset + 16 > head.length) return { next: headOffset + offset };
      size = Number(head.readBigUInt64BE(offset + 8));
    } else if (size === 0) size = fileSize - (headOffset + offset);
    if (!/^[\x20-\x7e]{4}$/.test(type) || size < 8) return undefined;
    const absolute = headOffset + offset;
    if (type === 'moov')
      return absolute + size <= fileSize ? { moov: { offset: absolute, size } } : undefined;
    if (absolute + size >= fileSize) return undefined;
    if (offset + size + 8 > head.length) return { next: absolute + size };
    offset += size;
  }
  return { next: headOffset + offset };
}
