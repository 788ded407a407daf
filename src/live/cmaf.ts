import { RenderError } from '../errors.js';
import { type Box, BoxReader } from '../media/boxes.js';

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

const NON_SYNC = 0x10000;

/** Defaults a movie's `trex` gives its fragments. */
interface TrackDefaults {
  timescale: number;
  duration: number;
  flags: number;
}

/** A reader of one top-level box the transcoder wrote, and that box. */
function open(box: Buffer): { reader: BoxReader; root: Box } {
  const reader = new BoxReader(box, { error: (message) => new RenderError(message) });
  return { reader, root: reader.children()[0]! };
}

/** Reads the first track's timescale and fragment defaults from `moov`. */
function readMoov(moov: Buffer): TrackDefaults {
  const { reader, root } = open(moov);
  const out: TrackDefaults = { timescale: 1000, duration: 0, flags: 0 };
  const mdhd = reader.path(root, ['trak', 'mdia', 'mdhd']);
  if (mdhd) out.timescale = reader.u32(mdhd, reader.fullBox(mdhd).version === 1 ? 20 : 12) || 1000;
  const trex = reader.path(root, ['mvex', 'trex']);
  if (trex) {
    out.duration = reader.u32(trex, 12);
    out.flags = reader.u32(trex, 20);
  }
  return out;
}

/** Reads one `moof`'s first track run: start, duration (ticks) and first-sample sync. */
function readMoof(
  moof: Buffer,
  track: TrackDefaults,
): { start: number; duration: number; independent: boolean } {
  const { reader, root } = open(moof);
  const traf = reader.child(root, 'traf');
  if (!traf) return { start: 0, duration: 0, independent: false };
  let defaultDuration = track.duration;
  let defaultFlags = track.flags;
  const tfhd = reader.child(traf, 'tfhd');
  if (tfhd) {
    const { flags } = reader.fullBox(tfhd);
    let at = 8;
    if (flags & 0x01) at += 8;
    if (flags & 0x02) at += 4;
    if (flags & 0x08) {
      defaultDuration = reader.u32(tfhd, at);
      at += 4;
    }
    if (flags & 0x10) at += 4;
    if (flags & 0x20) defaultFlags = reader.u32(tfhd, at);
  }
  const tfdt = reader.child(traf, 'tfdt');
  let start = 0;
  if (tfdt) start = reader.fullBox(tfdt).version === 1 ? Number(reader.u64(tfdt, 4)) : reader.u32(tfdt, 4);
  let duration = 0;
  let independent = (defaultFlags & NON_SYNC) === 0;
  const trun = reader.child(traf, 'trun');
  if (trun) {
    const { flags } = reader.fullBox(trun);
    const count = reader.u32(trun, 4);
    let at = 8;
    if (flags & 0x01) at += 4;
    let firstFlags: number | undefined;
    if (flags & 0x04) {
      firstFlags = reader.u32(trun, at);
      at += 4;
    }
    const fields = [0x100, 0x200, 0x400, 0x800].filter((bit) => flags & bit).length;
    at = reader.table(trun, at, count, fields * 4);
    for (let i = 0; i < count; i++) {
      let sampleDuration = defaultDuration;
      if (flags & 0x100) {
        sampleDuration = reader.u32(trun, at);
        at += 4;
      }
      if (flags & 0x200) at += 4;
      if (flags & 0x400) {
        if (i === 0 && firstFlags === undefined) firstFlags = reader.u32(trun, at);
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
  /** Chunks not yet joined to `#buffer`: joined once `#need` bytes are there, so a large box
   * arriving in many pipe reads is copied once, not once per read. */
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #need = 8;
  #track: TrackDefaults | undefined;
  #initParts: Buffer[] = [];
  #moof: Buffer | undefined;
  /** The init segment (`ftyp` + `moov`), once seen. */
  init: Buffer | undefined;

  /** Adds bytes; returns the fragments they completed. Throws on a box no transcoder writes. */
  push(chunk: Buffer): Fragment[] {
    const out: Fragment[] = [];
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.length;
    if (this.#buffer.length + this.#pendingBytes < this.#need) return out;
    this.#buffer =
      this.#buffer.length === 0 && this.#pending.length === 1
        ? chunk
        : Buffer.concat([this.#buffer, ...this.#pending]);
    this.#pending = [];
    this.#pendingBytes = 0;
    for (;;) {
      const buf = this.#buffer;
      this.#need = 8;
      if (buf.length < 8) break;
      let size = buf.readUInt32BE(0);
      if (size === 1) {
        this.#need = 16;
        if (buf.length < 16) break;
        size = Number(buf.readBigUInt64BE(8));
      }
      if (size < 8 || size > MAX_BOX_BYTES)
        throw new Error(`unexpected box size ${size} in the transcoder's output`);
      this.#need = size;
      if (buf.length < size) break;
      const box = buf.subarray(0, size);
      this.#buffer = buf.subarray(size);
      const type = box.toString('latin1', 4, 8);
      if (!this.init) {
        this.#initParts.push(box);
        if (type === 'moov') {
          this.init = Buffer.concat(this.#initParts);
          this.#track = readMoov(box);
          this.#initParts = [];
        }
        continue;
      }
      if (type === 'moof') this.#moof = box;
      else if (type === 'mdat' && this.#moof) {
        const moof = this.#moof;
        this.#moof = undefined;
        const track = this.#track!;
        const info = readMoof(moof, track);
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
