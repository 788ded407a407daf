import { type Box, BoxReader, lenient } from './boxes.js';

/**
 * Still frames straight from an MP4/MOV index. The proxy already reads a source's `moov` to
 * learn its facts; from the same bytes it knows where every video sample is, which are
 * keyframes and when each is shown. For a thumbnail it can then hand ffmpeg a tiny, complete
 * MP4 holding only the samples from the keyframe before the wanted frame up to that frame, with
 * an edit list that starts presentation at the wanted frame. ffmpeg then needs no probe, no seek
 * and no knowledge of the time: its first output frame is the answer, so its command line is the
 * same for every thumbnail and the process can be started before the request arrives.
 */

/** Sources with more video samples than this (about 9 hours at 60 fps) take the ffmpeg path. */
export const MAX_INDEXED_SAMPLES = 2_000_000;

/**
 * Sample entries whose frame files ffmpeg decodes to exactly the frame its own seek gives (H.264,
 * HEVC, MPEG-4 Part 2; checked pixel for pixel). AV1's hidden frames do not map one sample to one
 * frame, so it and anything unlisted take the ffmpeg path.
 */
export const FRAME_FILE_CODECS: ReadonlySet<string> = new Set(['avc1', 'avc3', 'hvc1', 'hev1', 'mp4v']);

/** The first video track's sample table, in decode order. */
export interface VideoSampleIndex {
  /** The media timescale (`mdhd`). */
  timescale: number;
  /** Decode time of each sample, in media ticks. */
  dts: Float64Array;
  /** Composition offset of each sample (`ctts`), in media ticks; zeros without `ctts`. */
  cto: Int32Array;
  sizes: Uint32Array;
  /** Absolute file offset of each sample. */
  offsets: Float64Array;
  /** 1 for a sync sample (keyframe); every sample is one without `stss`. */
  sync: Uint8Array;
  /** The sample entry's four-character code (`avc1`, `hvc1`...). */
  sampleEntry: string;
  /** Media time shown at presentation time 0 (the edit list's media start), in media ticks. */
  mediaStart: number;
  /** Boxes copied verbatim into the frame file (headers included). */
  boxes: { tkhd: Buffer; mdhd: Buffer; hdlr: Buffer; stsd: Buffer; vmhd: Buffer };
  /** Approximate memory held, for cache sizing. */
  bytes: number;
}

/** The samples a frame needs: `first` (a keyframe) through `last`, in decode order, and the frame itself. */
export interface FramePick {
  first: number;
  last: number;
  target: number;
  /** The byte range of the file the samples of the whole keyframe interval lie in (end exclusive). */
  start: number;
  end: number;
}

function u32(r: BoxReader, box: Box, at: number): number {
  return r.u32(box, at);
}

/** The media time the edit list starts presentation at; 0 without one, `undefined` for edits not read here. */
function mediaStartOf(r: BoxReader, trak: Box): number | undefined {
  const elst = r.path(trak, ['edts', 'elst']);
  if (!elst) return 0;
  const { version } = r.fullBox(elst);
  const count = u32(r, elst, 4);
  const width = version === 1 ? 20 : 12;
  const first = r.table(elst, 8, count, width);
  // One edit that shows media at normal speed. Empty edits (a delayed start), several cuts or
  // slow motion are left to ffmpeg's own reading.
  const edits: number[] = [];
  for (let i = 0; i < count; i++) {
    const at = first + i * width;
    const mediaTime =
      version === 1 ? r.i32(elst, at + 8) * 2 ** 32 + r.u32(elst, at + 12) : r.i32(elst, at + 4);
    const rate = r.u32(elst, at + (version === 1 ? 16 : 8));
    if (mediaTime < 0 || rate !== 0x10000) return undefined;
    edits.push(mediaTime);
  }
  if (edits.length > 1) return undefined;
  return edits[0] ?? 0;
}

function readIndex(r: BoxReader): VideoSampleIndex | undefined {
  const moov = r.children()[0];
  if (moov?.type !== 'moov' || r.child(moov, 'mvex')) return undefined;
  const trak = r.children(moov).find((box) => {
    if (box.type !== 'trak') return false;
    const hdlr = r.path(box, ['mdia', 'hdlr']);
    return hdlr !== undefined && r.fourcc(hdlr, 8) === 'vide';
  });
  if (!trak) return undefined;
  const tkhd = r.child(trak, 'tkhd');
  const mdia = r.child(trak, 'mdia');
  const mdhd = mdia && r.child(mdia, 'mdhd');
  const hdlr = mdia && r.child(mdia, 'hdlr');
  const minf = mdia && r.child(mdia, 'minf');
  const vmhd = minf && r.child(minf, 'vmhd');
  const stbl = minf && r.child(minf, 'stbl');
  if (!tkhd || !mdhd || !hdlr || !vmhd || !stbl) return undefined;
  const stsd = r.child(stbl, 'stsd');
  const stts = r.child(stbl, 'stts');
  const stsz = r.child(stbl, 'stsz');
  const stsc = r.child(stbl, 'stsc');
  const chunkTable = r.child(stbl, 'stco') ?? r.child(stbl, 'co64');
  if (!stsd || !stts || !stsz || !stsc || !chunkTable) return undefined;
  // One sample description: a file that switches descriptions mid-track goes to ffmpeg.
  if (u32(r, stsd, 4) !== 1) return undefined;
  const entry = r.children({ start: stsd.start + 8, end: stsd.end })[0];
  if (!entry) return undefined;
  const timescale = u32(r, mdhd, r.fullBox(mdhd).version === 1 ? 20 : 12);
  if (timescale === 0) return undefined;
  const mediaStart = mediaStartOf(r, trak);
  if (mediaStart === undefined) return undefined;

  const count = u32(r, stsz, 8);
  if (count === 0 || count > MAX_INDEXED_SAMPLES) return undefined;
  const sizes = new Uint32Array(count);
  const uniform = u32(r, stsz, 4);
  if (uniform !== 0) sizes.fill(uniform);
  else {
    const first = stsz.start + r.table(stsz, 12, count, 4);
    for (let i = 0; i < count; i++) sizes[i] = r.buffer.readUInt32BE(first + i * 4);
  }

  const dts = new Float64Array(count);
  {
    const entries = u32(r, stts, 4);
    const first = stts.start + r.table(stts, 8, entries, 8);
    let sample = 0;
    let time = 0;
    for (let e = 0; e < entries; e++) {
      const run = r.buffer.readUInt32BE(first + e * 8);
      const delta = r.buffer.readUInt32BE(first + e * 8 + 4);
      if (run > count - sample) return undefined;
      for (let k = 0; k < run; k++) {
        dts[sample++] = time;
        time += delta;
      }
    }
    if (sample !== count) return undefined;
  }

  const cto = new Int32Array(count);
  const ctts = r.child(stbl, 'ctts');
  if (ctts) {
    const entries = u32(r, ctts, 4);
    const first = ctts.start + r.table(ctts, 8, entries, 8);
    let sample = 0;
    for (let e = 0; e < entries; e++) {
      const run = r.buffer.readUInt32BE(first + e * 8);
      const offset = r.buffer.readInt32BE(first + e * 8 + 4);
      if (run > count - sample) return undefined;
      cto.fill(offset, sample, sample + run);
      sample += run;
    }
    if (sample !== count) return undefined;
  }

  const sync = new Uint8Array(count);
  const stss = r.child(stbl, 'stss');
  if (!stss) sync.fill(1);
  else {
    const entries = u32(r, stss, 4);
    const first = stss.start + r.table(stss, 8, entries, 4);
    for (let e = 0; e < entries; e++) {
      const number = r.buffer.readUInt32BE(first + e * 4);
      if (number < 1 || number > count) return undefined;
      sync[number - 1] = 1;
    }
  }

  const offsets = new Float64Array(count);
  {
    const wide = chunkTable.type === 'co64';
    const chunks = u32(r, chunkTable, 4);
    const chunkFirst = chunkTable.start + r.table(chunkTable, 8, chunks, wide ? 8 : 4);
    const chunkOffset = (chunk: number): number =>
      wide
        ? Number(r.buffer.readBigUInt64BE(chunkFirst + chunk * 8))
        : r.buffer.readUInt32BE(chunkFirst + chunk * 4);
    const runs = u32(r, stsc, 4);
    const runFirst = stsc.start + r.table(stsc, 8, runs, 12);
    let sample = 0;
    for (let e = 0; e < runs && sample < count; e++) {
      const firstChunk = r.buffer.readUInt32BE(runFirst + e * 12) - 1;
      const perChunk = r.buffer.readUInt32BE(runFirst + e * 12 + 4);
      const nextChunk = e + 1 < runs ? r.buffer.readUInt32BE(runFirst + (e + 1) * 12) - 1 : chunks;
      if (firstChunk < 0 || nextChunk <= firstChunk || nextChunk > chunks || perChunk === 0) return undefined;
      for (let chunk = firstChunk; chunk < nextChunk && sample < count; chunk++) {
        let at = chunkOffset(chunk);
        for (let k = 0; k < perChunk && sample < count; k++) {
          offsets[sample] = at;
          at += sizes[sample]!;
          sample++;
        }
      }
    }
    if (sample !== count) return undefined;
  }

  const copy = (box: Box) => Buffer.from(r.buffer.subarray(box.offset, box.end));
  const boxes = { tkhd: copy(tkhd), mdhd: copy(mdhd), hdlr: copy(hdlr), stsd: copy(stsd), vmhd: copy(vmhd) };
  return {
    timescale,
    sampleEntry: entry.type,
    dts,
    cto,
    sizes,
    offsets,
    sync,
    mediaStart,
    boxes,
    bytes: count * 25 + Object.values(boxes).reduce((sum, box) => sum + box.length, 0),
  };
}

/**
 * The first video track's sample table from a complete `moov` box, or `undefined` for anything
 * it does not read exactly (fragmented files, several sample descriptions, complex edit lists,
 * inconsistent tables). Never throws.
 */
export function readVideoSampleIndex(moov: Buffer): VideoSampleIndex | undefined {
  return lenient(() => readIndex(new BoxReader(moov, { mode: 'lenient' })));
}

/**
 * The frame shown at `seconds`, as ffmpeg's accurate seek picks it: the first frame whose
 * presentation time is at or after `seconds`, or the last frame when none is. With it, the
 * keyframe to decode from and every sample in between.
 */
export function pickFrame(index: VideoSampleIndex, seconds: number): FramePick {
  const count = index.dts.length;
  const wanted = Math.max(0, seconds) * index.timescale;
  let target = -1;
  let targetTime = Number.POSITIVE_INFINITY;
  let latest = 0;
  let latestTime = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < count; i++) {
    const shown = index.dts[i]! + index.cto[i]! - index.mediaStart;
    // A millionth of a tick absorbs the float error of `seconds * timescale`.
    if (shown >= wanted - 1e-6 && shown < targetTime) {
      target = i;
      targetTime = shown;
    }
    if (shown > latestTime) {
      latest = i;
      latestTime = shown;
    }
  }
  if (target < 0) target = latest;
  let first = target;
  while (first > 0 && index.sync[first] !== 1) first--;
  // Frames shown before the target may be decoded after it (B-frames): stop at the target itself.
  const last = target;
  // The byte range covers the whole keyframe interval, not just up to the target: every frame
  // of one interval then reads the same range, which the source reader keeps in memory.
  let intervalEnd = target + 1;
  while (intervalEnd < count && index.sync[intervalEnd] !== 1) intervalEnd++;
  let start = Number.POSITIVE_INFINITY;
  let end = 0;
  for (let i = first; i < intervalEnd; i++) {
    start = Math.min(start, index.offsets[i]!);
    end = Math.max(end, index.offsets[i]! + index.sizes[i]!);
  }
  return { first, last, target, start, end };
}

function box(type: string, ...parts: Buffer[]): Buffer {
  const size = 8 + parts.reduce((sum, part) => sum + part.length, 0);
  const header = Buffer.alloc(8);
  header.writeUInt32BE(size, 0);
  header.write(type, 4, 'latin1');
  return Buffer.concat([header, ...parts], size);
}

function fullBox(type: string, version: number, flags: number, body: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(((version << 24) | flags) >>> 0, 0);
  return box(type, head, body);
}

function words(values: readonly number[]): Buffer {
  const out = Buffer.alloc(values.length * 4);
  values.forEach((value, i) => {
    out.writeUInt32BE(value >>> 0, i * 4);
  });
  return out;
}

/** The movie timescale of the frame file (the edit list is written in it). */
const MOVIE_TIMESCALE = 1000;

/**
 * A self-contained MP4 of the picked samples, `moov` first so it can be read from a pipe, whose
 * edit list starts presentation at the picked frame: ffmpeg decodes from the keyframe, drops
 * what comes before, and its first output frame is the one asked for. `bytes` holds the file's
 * bytes from `pick.start` to `pick.end`.
 */
export function frameMp4(index: VideoSampleIndex, pick: FramePick, bytes: Buffer): Buffer | undefined {
  const { first, last, target } = pick;
  if (bytes.length < pick.end - pick.start) return undefined;
  const count = last - first + 1;
  const base = index.dts[first]!;
  const frameTicks =
    last > first ? index.dts[last]! - index.dts[last - 1]! : Math.max(1, Math.round(index.timescale / 30));
  // stts, run-length encoded from the decode times, the last sample lasting as long as the one before.
  const stts: number[] = [];
  for (let i = first; i <= last; i++) {
    const delta = i < last ? index.dts[i + 1]! - index.dts[i]! : frameTicks;
    if (stts.length > 0 && stts[stts.length - 1] === delta) stts[stts.length - 2]!++;
    else stts.push(1, delta);
  }
  const ctts: number[] = [];
  let anyOffset = false;
  for (let i = first; i <= last; i++) {
    const offset = index.cto[i]!;
    if (offset !== 0) anyOffset = true;
    if (ctts.length > 0 && ctts[ctts.length - 1] === offset) ctts[ctts.length - 2]!++;
    else ctts.push(1, offset);
  }
  const syncNumbers: number[] = [];
  for (let i = first; i <= last; i++) if (index.sync[i] === 1) syncNumbers.push(i - first + 1);
  const sizes: number[] = [];
  for (let i = first; i <= last; i++) sizes.push(index.sizes[i]!);
  const shownAt = index.dts[target]! + index.cto[target]! - base;
  // A negative composition offset can show the target before its keyframe's decode time.
  if (shownAt < 0 || shownAt > 0xffffffff) return undefined;
  const durationMs = Math.max(1, Math.round((frameTicks * MOVIE_TIMESCALE) / index.timescale));

  const stbl = (chunkOffset: number) =>
    box(
      'stbl',
      index.boxes.stsd,
      fullBox('stts', 0, 0, words([stts.length / 2, ...stts])),
      ...(anyOffset ? [fullBox('ctts', 1, 0, words([ctts.length / 2, ...ctts]))] : []),
      fullBox('stss', 0, 0, words([syncNumbers.length, ...syncNumbers])),
      fullBox('stsc', 0, 0, words([1, 1, count, 1])),
      fullBox('stsz', 0, 0, words([0, count, ...sizes])),
      fullBox('stco', 0, 0, words([1, chunkOffset])),
    );
  const dref = fullBox('dref', 0, 0, Buffer.concat([words([1]), fullBox('url ', 0, 1, Buffer.alloc(0))]));
  const mvhd = Buffer.alloc(96);
  mvhd.writeUInt32BE(MOVIE_TIMESCALE, 8);
  mvhd.writeUInt32BE(durationMs, 12);
  mvhd.writeUInt32BE(0x00010000, 16); // rate 1.0
  mvhd.writeUInt16BE(0x0100, 20); // volume 1.0
  // Identity matrix at 32: a, d and w (the track's own tkhd keeps the source's rotation).
  mvhd.writeUInt32BE(0x00010000, 32);
  mvhd.writeUInt32BE(0x00010000, 48);
  mvhd.writeUInt32BE(0x40000000, 64);
  mvhd.writeUInt32BE(0xffff, 92); // next track id: above the copied tkhd's own
  const elst = fullBox('elst', 0, 0, words([1, durationMs, shownAt, 0x00010000]));
  const moov = (chunkOffset: number) =>
    box(
      'moov',
      fullBox('mvhd', 0, 0, mvhd),
      box(
        'trak',
        index.boxes.tkhd,
        box('edts', elst),
        box(
          'mdia',
          index.boxes.mdhd,
          index.boxes.hdlr,
          box('minf', index.boxes.vmhd, box('dinf', dref), stbl(chunkOffset)),
        ),
      ),
    );
  const ftyp = box('ftyp', Buffer.from('isom\0\0\x02\0isomiso2mp41', 'latin1'));
  const moovSize = moov(0).length;
  const samples: Buffer[] = [];
  for (let i = first; i <= last; i++) {
    const at = index.offsets[i]! - pick.start;
    samples.push(bytes.subarray(at, at + index.sizes[i]!));
  }
  const mdat = box('mdat', ...samples);
  return Buffer.concat([ftyp, moov(ftyp.length + moovSize + 8), mdat]);
}
