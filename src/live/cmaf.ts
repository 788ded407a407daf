/**
 * Pure: cuts a fragmented MP4 byte stream (ffmpeg's `-f mp4 -movflags +empty_moov+frag_keyframe
 * -frag_duration`) into its init segment and its fragments (one `moof` + `mdat` each), reading
 * from each fragment what a live playlist needs: its decode time, its duration, and whether it
 * starts with a sync sample (an independent part, where a segment may begin).
 */

/** One CMAF chunk: a `moof` and its `mdat`. */
export interface Fragment {
  bytes: Buffer;
  /** Decode time of its first sample, seconds. */
  start: number;
  /** Sum of its sample durations, seconds. */
  duration: number;
  /** Its first sample is a sync sample. */
  independent: boolean;
}

/** Largest box accepted from the transcoder (a fragment of a few seconds of 4K is far below). */
const MAX_BOX_BYTES = 64 * 1024 * 1024;

interface BoxAt {
  type: string;
  start: number;
  /** Offset of the payload. */
  body: number;
  end: number;
}

function* boxes(buf: Buffer, start: number, end: number): Generator<BoxAt> {
  let offset = start;
  while (offset + 8 <= end) {
    let size = buf.readUInt32BE(offset);
    const type = buf.toString('latin1', offset + 4, offset + 8);
    let body = offset + 8;
    if (size === 1) {
      if (offset + 16 > end) return;
      size = Number(buf.readBigUInt64BE(offset + 8));
      body = offset + 16;
    } else if (size === 0) size = end - offset;
    if (size < body - offset || offset + size > end) return;
    yield { type, start: offset, body, end: offset + size };
    offset += size;
  }
}

function child(buf: Buffer, parent: BoxAt, type: string): BoxAt | undefined {
  for (const box of boxes(buf, parent.body, parent.end)) if (box.type === type) return box;
  return undefined;
}

const NON_SYNC = 0x10000;

/** Defaults a movie's `trex` gives its fragments. */
interface TrackDefaults {
  timescale: number;
  duration: number;
  flags: number;
}

/** Reads the first track's timescale and fragment defaults from `moov`. */
function readMoov(buf: Buffer, moov: BoxAt): TrackDefaults {
  const out: TrackDefaults = { timescale: 1000, duration: 0, flags: 0 };
  const trak = child(buf, moov, 'trak');
  const mdhd = trak && child(buf, child(buf, trak, 'mdia') ?? trak, 'mdhd');
  if (mdhd) out.timescale = buf.readUInt32BE(mdhd.body + (buf[mdhd.body] === 1 ? 20 : 12)) || 1000;
  const mvex = child(buf, moov, 'mvex');
  const trex = mvex && child(buf, mvex, 'trex');
  if (trex && trex.end - trex.body >= 24) {
    out.duration = buf.readUInt32BE(trex.body + 12);
    out.flags = buf.readUInt32BE(trex.body + 20);
  }
  return out;
}

/** Reads one `moof`'s first track run: start, duration (ticks) and first-sample sync. */
function readMoof(
  buf: Buffer,
  moof: BoxAt,
  track: TrackDefaults,
): { start: number; duration: number; independent: boolean } {
  const traf = child(buf, moof, 'traf');
  if (!traf) return { start: 0, duration: 0, independent: false };
  let defaultDuration = track.duration;
  let defaultFlags = track.flags;
  const tfhd = child(buf, traf, 'tfhd');
  if (tfhd) {
    const flags = buf.readUInt32BE(tfhd.body) & 0xffffff;
    let at = tfhd.body + 8;
    if (flags & 0x01) at += 8;
    if (flags & 0x02) at += 4;
    if (flags & 0x08) {
      defaultDuration = buf.readUInt32BE(at);
      at += 4;
    }
    if (flags & 0x10) at += 4;
    if (flags & 0x20) defaultFlags = buf.readUInt32BE(at);
  }
  let start = 0;
  const tfdt = child(buf, traf, 'tfdt');
  if (tfdt)
    start =
      buf[tfdt.body] === 1 ? Number(buf.readBigUInt64BE(tfdt.body + 4)) : buf.readUInt32BE(tfdt.body + 4);
  let duration = 0;
  let independent = (defaultFlags & NON_SYNC) === 0;
  const trun = child(buf, traf, 'trun');
  if (trun) {
    const flags = buf.readUInt32BE(trun.body) & 0xffffff;
    const count = buf.readUInt32BE(trun.body + 4);
    let at = trun.body + 8;
    if (flags & 0x01) at += 4;
    let firstFlags: number | undefined;
    if (flags & 0x04) {
      firstFlags = buf.readUInt32BE(at);
      at += 4;
    }
    for (let i = 0; i < count && at <= trun.end; i++) {
      let sampleDuration = defaultDuration;
      if (flags & 0x100) {
        sampleDuration = buf.readUInt32BE(at);
        at += 4;
      }
      if (flags & 0x200) at += 4;
      if (flags & 0x400) {
        if (i === 0 && firstFlags === undefined) firstFlags = buf.readUInt32BE(at);
        at += 4;
      }
      if (flags & 0x800) at += 4;
      duration += sampleDuration;
    }
    if (firstFlags !== undefined) independent = (firstFlags & NON_SYNC) === 0;
  }
  return { start, duration, independent };
}

/** Feeds on the transcoder's output and hands out the init segment, then each fragment. */
export class FragmentReader {
  #buffer: Buffer = Buffer.alloc(0);
  #track: TrackDefaults | undefined;
  #initParts: Buffer[] = [];
  #moof: Buffer | undefined;
  /** The init segment (`ftyp` + `moov`), once seen. */
  init: Buffer | undefined;

  /** Adds bytes; returns the fragments they completed. Throws on a box no transcoder writes. */
  push(chunk: Buffer): Fragment[] {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    const out: Fragment[] = [];
    for (;;) {
      const buf = this.#buffer;
      if (buf.length < 8) break;
      let size = buf.readUInt32BE(0);
      if (size === 1) {
        if (buf.length < 16) break;
        size = Number(buf.readBigUInt64BE(8));
      }
      if (size < 8 || size > MAX_BOX_BYTES)
        throw new Error(`unexpected box size ${size} in the transcoder's output`);
      if (buf.length < size) break;
      const box = buf.subarray(0, size);
      this.#buffer = buf.subarray(size);
      const type = box.toString('latin1', 4, 8);
      if (!this.init) {
        this.#initParts.push(box);
        if (type === 'moov') {
          this.init = Buffer.concat(this.#initParts);
          this.#track = readMoov(box, { type, start: 0, body: 8, end: size });
          this.#initParts = [];
        }
        continue;
      }
      if (type === 'moof') this.#moof = box;
      else if (type === 'mdat' && this.#moof) {
        const moof = this.#moof;
        this.#moof = undefined;
        const track = this.#track!;
        const info = readMoof(moof, { type: 'moof', start: 0, body: 8, end: moof.length }, track);
        out.push({
          bytes: Buffer.concat([moof, box]),
          start: info.start / track.timescale,
          duration: info.duration / track.timescale,
          independent: info.independent,
        });
      }
      // styp, sidx, mfra and the like carry nothing a live playlist needs.
    }
    return out;
  }
}
