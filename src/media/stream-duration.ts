import { crc32 } from 'node:zlib';

/**
 * Stamps the final duration into the header of a video that is streamed while it is encoded.
 *
 * ffmpeg writing to a pipe cannot seek back, so a fragmented MP4 starts with a `moov` whose
 * `mvhd` duration is 0 and which has no `mehd`, and a WebM starts with a Segment `Info` that has
 * no `Duration`. A browser shown such a stream treats it as growing (the duration creeps up as
 * fragments arrive; seeking ahead is impossible). The proxy knows the output's length before the
 * encode starts (probe + trim), so it rewrites that header on its way out: the stamp buffers
 * only until the header is complete, rewrites it, and passes every later byte through untouched
 * (same Buffer objects, no copies). Anything it does not recognise, or a header larger than
 * `maxHeaderBytes`, is passed through unchanged: a missing duration is better than a broken file.
 *
 * Pure (no I/O): bytes in, bytes out.
 */

/** Containers the stamp understands: what `src/media/video-argv.ts` streams. */
export type StampContainer = 'mp4' | 'webm';

/** Most bytes held back while waiting for a complete header before giving up. */
export const MAX_STAMP_HEADER_BYTES = 1024 * 1024;

/** Where a stamp stands: still buffering, header rewritten, or passing through unchanged. */
export type StampState =
  | { kind: 'buffering' }
  | { kind: 'stamped'; headerBytes: number; growth: number }
  | { kind: 'unchanged'; reason: string };

/** A streaming rewriter; feed it every chunk in order, then call `end()` once. */
export interface DurationStamp {
  /** Takes the next chunk; returns the bytes to emit now (possibly none while buffering). */
  push(chunk: Buffer): Buffer[];
  /** The stream ended: returns whatever is still held back (unchanged if the header never completed). */
  end(): Buffer[];
  /** What the stamp did so far, for logs and tests. */
  readonly state: StampState;
}

/** Options for `createDurationStamp`. */
export interface DurationStampOptions {
  /** Give up (and pass bytes through) once this many bytes are held without a complete header. */
  maxHeaderBytes?: number;
}

/** What a header scan of the bytes buffered so far concluded. */
type Scan =
  | { kind: 'more' }
  | { kind: 'done'; headerEnd: number; header: Buffer }
  | { kind: 'skip'; reason: string };

/**
 * A stamp that writes `seconds` as the duration of a streamed `container`. A duration that is
 * not a positive finite number (the source's length is unknown) yields a pass-through stamp.
 */
export function createDurationStamp(
  container: StampContainer,
  seconds: number,
  options: DurationStampOptions = {},
): DurationStamp {
  const limit = options.maxHeaderBytes ?? MAX_STAMP_HEADER_BYTES;
  const scan = container === 'mp4' ? scanMp4 : scanWebm;
  let state: StampState =
    Number.isFinite(seconds) && seconds > 0
      ? { kind: 'buffering' }
      : { kind: 'unchanged', reason: 'duration unknown' };
  let held: Buffer[] = [];
  let heldBytes = 0;

  const release = (): Buffer[] => {
    const out = held;
    held = [];
    heldBytes = 0;
    return out;
  };

  return {
    get state() {
      return state;
    },
    push(chunk) {
      if (state.kind !== 'buffering') return chunk.length ? [chunk] : [];
      if (chunk.length === 0) return [];
      held.push(chunk);
      heldBytes += chunk.length;
      const buffered = held.length === 1 ? chunk : Buffer.concat(held, heldBytes);
      held = [buffered];
      const result = scan(buffered.subarray(0, Math.min(buffered.length, limit)), seconds, limit);
      if (result.kind === 'done') {
        state = {
          kind: 'stamped',
          headerBytes: result.headerEnd,
          growth: result.header.length - result.headerEnd,
        };
        release();
        const rest = buffered.subarray(result.headerEnd);
        return rest.length ? [result.header, rest] : [result.header];
      }
      if (result.kind === 'skip') {
        state = { kind: 'unchanged', reason: result.reason };
        return release();
      }
      if (heldBytes >= limit) {
        state = { kind: 'unchanged', reason: `header longer than ${limit} bytes` };
        return release();
      }
      return [];
    },
    end() {
      if (state.kind === 'buffering') state = { kind: 'unchanged', reason: 'stream ended inside the header' };
      return release();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// ISO BMFF (fragmented MP4)
// ---------------------------------------------------------------------------------------------

/** A box inside a buffer: header at `offset`, payload from `start` to `end`. */
interface Box {
  type: string;
  offset: number;
  start: number;
  end: number;
}

/** Reads the box header at `offset`; `undefined` if the header itself is not all there yet. */
function readBoxHeader(
  buffer: Buffer,
  offset: number,
): { type: string; header: number; size: number } | undefined {
  if (offset + 8 > buffer.length) return undefined;
  const small = buffer.readUInt32BE(offset);
  const type = buffer.toString('latin1', offset + 4, offset + 8);
  if (small !== 1) return { type, header: 8, size: small };
  if (offset + 16 > buffer.length) return undefined;
  const large = buffer.readBigUInt64BE(offset + 8);
  return { type, header: 16, size: large > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(large) };
}

/** The child boxes between `start` and `end`; `undefined` if they do not tile it exactly. */
function childBoxes(buffer: Buffer, start: number, end: number): Box[] | undefined {
  const out: Box[] = [];
  let offset = start;
  while (offset < end) {
    const head = readBoxHeader(buffer, offset);
    if (!head || head.size < head.header || offset + head.size > end) return undefined;
    out.push({ type: head.type, offset, start: offset + head.header, end: offset + head.size });
    offset += head.size;
  }
  return out;
}

/** A box with a 32-bit size (headers are far below 4 GiB: the stamp holds at most a few MiB). */
function makeBox(type: string, ...parts: Buffer[]): Buffer {
  const header = Buffer.alloc(8);
  const body = Buffer.concat(parts);
  header.writeUInt32BE(8 + body.length, 0);
  header.write(type, 4, 'latin1');
  return Buffer.concat([header, body]);
}

/** Boxes that may precede `moov` in a file ffmpeg (or anyone sane) streams. */
const MP4_LEADING_BOXES = new Set(['ftyp', 'free', 'skip', 'wide', 'uuid', 'pdin']);

/**
 * Finds `ftyp ... moov` at the start of a fragmented MP4 and returns it rewritten. Needs the
 * whole `moov`; gives up at the first box that cannot come before it (a `moof` or `mdat` means
 * the file has no up-front index worth stamping).
 */
function scanMp4(buffer: Buffer, seconds: number, limit: number): Scan {
  let offset = 0;
  for (;;) {
    const head = readBoxHeader(buffer, offset);
    if (!head) return { kind: 'more' };
    if (head.size === 0 || head.size < head.header)
      return { kind: 'skip', reason: `unsized ${head.type} box` };
    if (offset + head.size > limit) return { kind: 'skip', reason: `header longer than ${limit} bytes` };
    if (head.type !== 'moov' && !MP4_LEADING_BOXES.has(head.type))
      return { kind: 'skip', reason: `${head.type} box before moov` };
    if (offset + head.size > buffer.length) return { kind: 'more' };
    if (head.type === 'moov') {
      const moov: Box = { type: 'moov', offset, start: offset + head.header, end: offset + head.size };
      const rewritten = stampMoov(buffer, moov, seconds);
      if (typeof rewritten === 'string') return { kind: 'skip', reason: rewritten };
      return {
        kind: 'done',
        headerEnd: moov.end,
        header: Buffer.concat([buffer.subarray(0, moov.offset), rewritten]),
      };
    }
    offset += head.size;
  }
}

/** Seconds as a count of `timescale` ticks, at least 1 so "unknown" (0) is never written. */
function ticks(seconds: number, timescale: number): number {
  return Math.max(1, Math.round(seconds * timescale));
}

/**
 * A full box whose payload is `version/flags, [creation, modification, (id or timescale)...,]
 * duration, rest` (mvhd, tkhd, mdhd) with its duration set. Version 0 stays version 0 while the
 * value fits 32 bits; otherwise the times widen to version 1's 64 bits.
 *
 * @param durationIndex which 32/64-bit field after creation and modification is the duration
 *   (mvhd/mdhd: timescale then duration = 1; tkhd: track_ID, reserved, duration = 2); fields
 *   between are 32-bit in both versions.
 */
function withDuration(payload: Buffer, durationIndex: number, value: number): Buffer | undefined {
  const version = payload[0];
  if (version === 0) {
    const at = 12 + durationIndex * 4;
    if (payload.length < at + 4) return undefined;
    if (value <= 0xffff_ffff) {
      const out = Buffer.from(payload);
      out.writeUInt32BE(value, at);
      return out;
    }
    // Widen: creation and modification times and the duration become 64-bit.
    const head = Buffer.alloc(4 + 16 + durationIndex * 4 + 8);
    head[0] = 1;
    payload.copy(head, 1, 1, 4);
    head.writeBigUInt64BE(BigInt(payload.readUInt32BE(4)), 4);
    head.writeBigUInt64BE(BigInt(payload.readUInt32BE(8)), 12);
    payload.copy(head, 20, 12, 12 + durationIndex * 4);
    head.writeBigUInt64BE(BigInt(value), 20 + durationIndex * 4);
    return Buffer.concat([head, payload.subarray(at + 4)]);
  }
  if (version === 1) {
    const at = 20 + durationIndex * 4;
    if (payload.length < at + 8) return undefined;
    const out = Buffer.from(payload);
    out.writeBigUInt64BE(BigInt(value), at);
    return out;
  }
  return undefined;
}

/** The `timescale` of an mvhd/mdhd payload (version 0 or 1). */
function timescaleOf(payload: Buffer): number | undefined {
  const at = payload[0] === 1 ? 20 : payload[0] === 0 ? 12 : -1;
  if (at < 0 || payload.length < at + 4) return undefined;
  const value = payload.readUInt32BE(at);
  return value > 0 ? value : undefined;
}

/** An `mehd` payload carrying `value` (version 1 only when 32 bits are not enough). */
function mehdPayload(value: number): Buffer {
  if (value <= 0xffff_ffff) {
    const out = Buffer.alloc(8);
    out.writeUInt32BE(value, 4);
    return out;
  }
  const out = Buffer.alloc(12);
  out[0] = 1;
  out.writeBigUInt64BE(BigInt(value), 4);
  return out;
}

/**
 * `moov` rewritten with the duration in `mvhd` (movie timescale), `mvex/mehd` (added when
 * missing: it is how a fragmented file declares its total length, and what Firefox and MSE
 * parsers read), every `tkhd` (movie timescale) and every `mdhd` (its own media timescale).
 * The `mdhd` is what Chromium's FFmpeg-based demuxer believes: it ignores `mvhd`/`mehd` in a
 * fragmented file and takes each stream's length from `mdhd`, growing it as fragments arrive.
 * That is safe because ffmpeg's fragments all carry `tfdt` (explicit decode times), so no
 * demuxer places a fragment after the declared length. Every enclosing box is rebuilt, so all
 * sizes stay right. Returns a reason string instead when the layout is not one it can stamp.
 */
function stampMoov(buffer: Buffer, moov: Box, seconds: number): Buffer | string {
  const children = childBoxes(buffer, moov.start, moov.end);
  if (!children) return 'malformed moov';
  const mvhd = children.find((box) => box.type === 'mvhd');
  if (!mvhd) return 'moov without mvhd';
  if (!children.some((box) => box.type === 'mvex'))
    return 'not fragmented (no mvex): its index already has the duration';
  const timescale = timescaleOf(buffer.subarray(mvhd.start, mvhd.end));
  if (!timescale) return 'mvhd without a timescale';
  const movieTicks = ticks(seconds, timescale);
  const parts: Buffer[] = [];
  for (const box of children) {
    const payload = buffer.subarray(box.start, box.end);
    if (box.type === 'mvhd') {
      const stamped = withDuration(payload, 1, movieTicks);
      if (!stamped) return 'unreadable mvhd';
      parts.push(makeBox('mvhd', stamped));
    } else if (box.type === 'mvex') {
      const stamped = stampMvex(buffer, box, movieTicks);
      if (typeof stamped === 'string') return stamped;
      parts.push(stamped);
    } else if (box.type === 'trak') {
      const stamped = stampTrak(buffer, box, seconds, movieTicks);
      if (typeof stamped === 'string') return stamped;
      parts.push(stamped);
    } else {
      parts.push(buffer.subarray(box.offset, box.end));
    }
  }
  return makeBox('moov', ...parts);
}

/** `mvex` with its `mehd` set to `value`, inserted first (where the standard puts it) if absent. */
function stampMvex(buffer: Buffer, mvex: Box, value: number): Buffer | string {
  const children = childBoxes(buffer, mvex.start, mvex.end);
  if (!children) return 'malformed mvex';
  const parts: Buffer[] = [];
  if (!children.some((box) => box.type === 'mehd')) parts.push(makeBox('mehd', mehdPayload(value)));
  for (const box of children) {
    parts.push(
      box.type === 'mehd' ? makeBox('mehd', mehdPayload(value)) : buffer.subarray(box.offset, box.end),
    );
  }
  return makeBox('mvex', ...parts);
}

/** `trak` with its `tkhd` duration set (movie timescale) and `mdia/mdhd` (media timescale). */
function stampTrak(buffer: Buffer, trak: Box, seconds: number, movieTicks: number): Buffer | string {
  const children = childBoxes(buffer, trak.start, trak.end);
  if (!children) return 'malformed trak';
  const parts: Buffer[] = [];
  for (const box of children) {
    if (box.type === 'tkhd') {
      const stamped = withDuration(buffer.subarray(box.start, box.end), 2, movieTicks);
      if (!stamped) return 'unreadable tkhd';
      parts.push(makeBox('tkhd', stamped));
    } else if (box.type === 'mdia') {
      const mdia = childBoxes(buffer, box.start, box.end);
      if (!mdia) return 'malformed mdia';
      const inner: Buffer[] = [];
      for (const child of mdia) {
        if (child.type !== 'mdhd') {
          inner.push(buffer.subarray(child.offset, child.end));
          continue;
        }
        const payload = buffer.subarray(child.start, child.end);
        const timescale = timescaleOf(payload);
        if (!timescale) return 'mdhd without a timescale';
        const stamped = withDuration(payload, 1, ticks(seconds, timescale));
        if (!stamped) return 'unreadable mdhd';
        inner.push(makeBox('mdhd', stamped));
      }
      parts.push(makeBox('mdia', ...inner));
    } else {
      parts.push(buffer.subarray(box.offset, box.end));
    }
  }
  return makeBox('trak', ...parts);
}

// ---------------------------------------------------------------------------------------------
// EBML (WebM)
// ---------------------------------------------------------------------------------------------

const EBML_ID = 0x1a45dfa3;
const SEGMENT_ID = 0x18538067;
const SEEK_HEAD_ID = 0x114d9b74;
const SEEK_ID = 0x4dbb;
const SEEK_POSITION_ID = 0x53ac;
const INFO_ID = 0x1549a966;
const TIMECODE_SCALE_ID = 0x2ad7b1;
const DURATION_ID = 0x4489;
const CLUSTER_ID = 0x1f43b675;
const VOID_ID = 0xec;
const CRC32_ID = 0xbf;

/** An EBML element: `offset` of its ID, `start`/`end` of its data; `end` is -1 when unsized. */
interface Element {
  id: number;
  offset: number;
  start: number;
  end: number;
  /** Width of the size field as written, kept when the element is rewritten if it still fits. */
  sizeWidth: number;
}

/** Reads an element ID (marker bits kept, as IDs are written in the spec). */
function readId(buffer: Buffer, offset: number): { id: number; width: number } | undefined | null {
  if (offset >= buffer.length) return undefined;
  const first = buffer[offset]!;
  const width = first >= 0x80 ? 1 : first >= 0x40 ? 2 : first >= 0x20 ? 3 : first >= 0x10 ? 4 : 0;
  if (width === 0) return null;
  if (offset + width > buffer.length) return undefined;
  return { id: buffer.readUIntBE(offset, width), width };
}

/** Reads a size vint; `value` is -1 for "unknown size" (all value bits set). */
function readSize(buffer: Buffer, offset: number): { value: number; width: number } | undefined | null {
  if (offset >= buffer.length) return undefined;
  const first = buffer[offset]!;
  let width = 1;
  while (width <= 8 && !(first & (0x80 >> (width - 1)))) width++;
  if (width > 8) return null;
  if (offset + width > buffer.length) return undefined;
  let value = first & (0xff >> width);
  let allOnes = value === 0xff >> width;
  for (let i = 1; i < width; i++) {
    const byte = buffer[offset + i]!;
    value = value * 256 + byte;
    allOnes &&= byte === 0xff;
  }
  if (allOnes) return { value: -1, width };
  return value > Number.MAX_SAFE_INTEGER ? null : { value, width };
}

/**
 * Reads the element header at `offset`. `undefined`: the header is not all there yet; `null`:
 * it is not a valid element header.
 */
function readElement(buffer: Buffer, offset: number): Element | undefined | null {
  const id = readId(buffer, offset);
  if (!id) return id;
  const size = readSize(buffer, offset + id.width);
  if (!size) return size;
  const start = offset + id.width + size.width;
  return { id: id.id, offset, start, end: size.value < 0 ? -1 : start + size.value, sizeWidth: size.width };
}

/** Encodes a size vint, in `width` bytes if given and enough, else in the fewest that fit. */
function encodeSize(value: number, width?: number): Buffer {
  const fits = (w: number) => value < 2 ** (7 * w) - 1; // all ones is reserved for "unknown"
  let w = width && width <= 8 && fits(width) ? width : 1;
  while (!fits(w)) w++;
  const out = Buffer.alloc(w);
  let rest = value;
  for (let i = w - 1; i >= 0; i--) {
    out[i] = rest % 256;
    rest = Math.floor(rest / 256);
  }
  out[0]! |= 0x80 >> (w - 1);
  return out;
}

function encodeId(id: number): Buffer {
  const width = id > 0xffffff ? 4 : id > 0xffff ? 3 : id > 0xff ? 2 : 1;
  const out = Buffer.alloc(width);
  out.writeUIntBE(id, 0, width);
  return out;
}

/** An element from its ID and data, keeping the size field's width when possible. */
function makeElement(id: number, data: Buffer, sizeWidth?: number): Buffer {
  return Buffer.concat([encodeId(id), encodeSize(data.length, sizeWidth), data]);
}

/** The children of a master element's data; `undefined` if they do not tile it exactly. */
function childElements(buffer: Buffer, start: number, end: number): Element[] | undefined {
  const out: Element[] = [];
  let offset = start;
  while (offset < end) {
    const element = readElement(buffer, offset);
    if (!element || element.end < 0 || element.end > end) return undefined;
    out.push(element);
    offset = element.end;
  }
  return out;
}

/** Master element data from children; a leading CRC-32 child is recomputed over the rest. */
function masterData(children: Buffer[], hadCrc: boolean): Buffer {
  const rest = Buffer.concat(children);
  if (!hadCrc) return rest;
  const crc = Buffer.alloc(4);
  crc.writeUInt32LE(crc32(rest), 0);
  return Buffer.concat([makeElement(CRC32_ID, crc), rest]);
}

/** Big-endian unsigned integer element data. */
function readUint(buffer: Buffer, element: Element): number {
  let value = 0;
  for (let i = element.start; i < element.end; i++) value = value * 256 + buffer[i]!;
  return value;
}

/** `value` as unsigned integer data in exactly `width` bytes, or `undefined` if it does not fit. */
function uintData(value: number, width: number): Buffer | undefined {
  if (width < 1 || width > 8 || value >= 2 ** (8 * width)) return undefined;
  const out = Buffer.alloc(width);
  let rest = value;
  for (let i = width - 1; i >= 0; i--) {
    out[i] = rest % 256;
    rest = Math.floor(rest / 256);
  }
  return out;
}

/** The fewest bytes an unsigned integer needs (at least 1). */
function uintWidth(value: number): number {
  let width = 1;
  while (value >= 2 ** (8 * width)) width++;
  return width;
}

/** A Void element of exactly `total` bytes (2 or more), or none for 0. */
function makeVoid(total: number): Buffer {
  if (total === 0) return Buffer.alloc(0);
  // One-byte size for small voids, eight-byte size otherwise, so every total >= 2 is reachable.
  const sizeWidth = total - 2 <= 126 ? 1 : 8;
  return makeElement(VOID_ID, Buffer.alloc(total - 1 - sizeWidth), sizeWidth);
}

/**
 * Finds the EBML header, the Segment header and the Segment's head (its children up to `Info`
 * and a `SeekHead`, or up to the first `Cluster`), and returns them rewritten with
 * `Info/Duration` set. With ffmpeg's layout (SeekHead, Void, Info, Tracks...) nothing after
 * `Info` is held back, and the Void absorbs the new element so nothing after `Info` moves;
 * otherwise later elements shift by the growth and `SeekHead` positions move with them.
 */
function scanWebm(buffer: Buffer, seconds: number): Scan {
  const ebml = readElement(buffer, 0);
  if (ebml === undefined) return { kind: 'more' };
  if (ebml === null || ebml.id !== EBML_ID || ebml.end < 0) return { kind: 'skip', reason: 'no EBML header' };
  const segment = readElement(buffer, ebml.end);
  if (segment === undefined) return { kind: 'more' };
  if (segment === null || segment.id !== SEGMENT_ID)
    return { kind: 'skip', reason: 'no Segment after the EBML header' };
  // The head ends after Info once a SeekHead has been seen (ffmpeg writes it first, so nothing
  // after Info is held back), or else at the first Cluster, so a SeekHead after Info is fixed too.
  const top: Element[] = [];
  let offset = segment.start;
  let seenInfo = false;
  let seenSeekHead = false;
  while (!(seenInfo && seenSeekHead)) {
    const element = readElement(buffer, offset);
    if (element === undefined) return { kind: 'more' };
    if (element === null) return { kind: 'skip', reason: 'malformed Segment child' };
    if (element.id === CLUSTER_ID) {
      if (seenInfo) break;
      return { kind: 'skip', reason: 'Cluster before Info' };
    }
    if (element.end < 0) return { kind: 'skip', reason: 'unsized Segment child before the first Cluster' };
    if (element.end > buffer.length) return { kind: 'more' };
    top.push(element);
    seenInfo ||= element.id === INFO_ID;
    seenSeekHead ||= element.id === SEEK_HEAD_ID;
    offset = element.end;
  }
  const rewritten = stampSegmentHead(buffer, segment, top, seconds);
  if (typeof rewritten === 'string') return { kind: 'skip', reason: rewritten };
  return {
    kind: 'done',
    headerEnd: offset,
    header: Buffer.concat([buffer.subarray(0, segment.offset), rewritten]),
  };
}

/** `Info` data with `Duration` written (patched in place if present, else added after TimecodeScale). */
function stampInfo(buffer: Buffer, info: Element, seconds: number): Buffer | string {
  const children = childElements(buffer, info.start, info.end);
  if (!children) return 'malformed Info';
  const scaleElement = children.find((child) => child.id === TIMECODE_SCALE_ID);
  const scale = scaleElement ? readUint(buffer, scaleElement) : 1_000_000;
  if (!(scale > 0)) return 'Info with a zero TimecodeScale';
  // Duration is a float counted in TimecodeScale nanoseconds.
  const value = (seconds * 1e9) / scale;
  const float64 = Buffer.alloc(8);
  float64.writeDoubleBE(value, 0);
  const hadCrc = children[0]?.id === CRC32_ID;
  const parts: Buffer[] = [];
  let written = false;
  for (const child of children) {
    if (child.id === CRC32_ID && child === children[0]) continue;
    if (child.id === DURATION_ID) {
      const width = child.end - child.start;
      let data = float64;
      if (width === 4) {
        data = Buffer.alloc(4);
        data.writeFloatBE(value, 0);
      }
      parts.push(makeElement(DURATION_ID, data, child.start - child.offset - 2));
      written = true;
      continue;
    }
    parts.push(buffer.subarray(child.offset, child.end));
    if (child === scaleElement && !written) {
      parts.push(makeElement(DURATION_ID, float64));
      written = true;
    }
  }
  if (!written) parts.unshift(makeElement(DURATION_ID, float64));
  return makeElement(INFO_ID, masterData(parts, hadCrc), info.sizeWidth);
}

/** A SeekHead's entries: the child elements, with each Seek's position element located. */
interface SeekHeadModel {
  hadCrc: boolean;
  seeks: { parts: { element: Element; position: number | undefined }[]; sizeWidth: number }[];
  /** Children that are not Seek (Void...), kept in place after the seeks. */
  others: Buffer[];
  sizeWidth: number;
}

function readSeekHead(buffer: Buffer, head: Element): SeekHeadModel | undefined {
  const children = childElements(buffer, head.start, head.end);
  if (!children) return undefined;
  const model: SeekHeadModel = {
    hadCrc: children[0]?.id === CRC32_ID,
    seeks: [],
    others: [],
    sizeWidth: head.sizeWidth,
  };
  for (const child of children) {
    if (child.id === CRC32_ID && child === children[0]) continue;
    if (child.id !== SEEK_ID) {
      model.others.push(buffer.subarray(child.offset, child.end));
      continue;
    }
    const fields = childElements(buffer, child.start, child.end);
    if (!fields) return undefined;
    model.seeks.push({
      sizeWidth: child.sizeWidth,
      parts: fields.map((element) => ({
        element,
        position: element.id === SEEK_POSITION_ID ? readUint(buffer, element) : undefined,
      })),
    });
  }
  return model;
}

/** The SeekHead rebuilt with each position mapped; a position keeps its width while it fits. */
function writeSeekHead(buffer: Buffer, model: SeekHeadModel, map: (position: number) => number): Buffer {
  const seeks = model.seeks.map((seek) => {
    const fields = seek.parts.map(({ element, position }) => {
      if (position === undefined) return buffer.subarray(element.offset, element.end);
      const moved = map(position);
      const data = uintData(moved, element.end - element.start) ?? uintData(moved, uintWidth(moved))!;
      return makeElement(SEEK_POSITION_ID, data, element.start - element.offset - 2);
    });
    return makeElement(SEEK_ID, Buffer.concat(fields), seek.sizeWidth);
  });
  return makeElement(SEEK_HEAD_ID, masterData([...seeks, ...model.others], model.hadCrc), model.sizeWidth);
}

/**
 * The Segment header and its children up to `Info`, rewritten. Positions in a SeekHead are
 * relative to the Segment's data; a layout pass repeats until SeekHead sizes settle (a position
 * that outgrows its bytes widens the SeekHead, which moves what follows it).
 */
function stampSegmentHead(
  buffer: Buffer,
  segment: Element,
  top: Element[],
  seconds: number,
): Buffer | string {
  const info = top.find((element) => element.id === INFO_ID)!;
  const last = top.at(-1)!;
  const newInfo = stampInfo(buffer, info, seconds);
  if (typeof newInfo === 'string') return newInfo;
  const base = segment.start;
  const heads = new Map<Element, SeekHeadModel>();
  for (const element of top) {
    if (element.id !== SEEK_HEAD_ID) continue;
    const model = readSeekHead(buffer, element);
    if (!model) return 'malformed SeekHead';
    heads.set(element, model);
  }
  const voidElement = top.find((element) => element.id === VOID_ID);
  const oldLength = (element: Element) => element.end - element.offset;
  const oldRegion = last.end - top[0]!.offset;

  // Sizes of every element but the Void, starting from the originals with Info stamped.
  const bytes = new Map<Element, Buffer>(
    top.map((element) => [element, buffer.subarray(element.offset, element.end)]),
  );
  bytes.set(info, newInfo);
  for (let pass = 0; pass < 8; pass++) {
    let growth = 0;
    for (const element of top)
      if (element !== voidElement) growth += bytes.get(element)!.length - oldLength(element);
    // ffmpeg leaves a Void after the SeekHead: shrinking it by the growth keeps everything
    // after Info where it was.
    let voidBytes: Buffer | undefined;
    if (voidElement) {
      const room = oldLength(voidElement) - growth;
      voidBytes =
        room === 0 || room >= 2 ? makeVoid(room) : buffer.subarray(voidElement.offset, voidElement.end);
      growth += voidBytes.length - oldLength(voidElement);
    }
    const newOffset = new Map<number, number>();
    let cursor = top[0]!.offset - base;
    for (const element of top) {
      newOffset.set(element.offset - base, cursor);
      cursor += element === voidElement ? voidBytes!.length : bytes.get(element)!.length;
    }
    const regionEnd = last.end - base;
    const map = (position: number) =>
      newOffset.get(position) ?? (position >= regionEnd ? position + growth : position);
    let changed = false;
    for (const [element, model] of heads) {
      const next = writeSeekHead(buffer, model, map);
      if (next.length !== bytes.get(element)!.length) changed = true;
      bytes.set(element, next);
    }
    if (changed) continue;
    const body = top.map((element) => (element === voidElement ? voidBytes! : bytes.get(element)!));
    const region = Buffer.concat(body);
    let segmentHeader = buffer.subarray(segment.offset, segment.start);
    if (segment.end >= 0 && region.length !== oldRegion) {
      // A Segment of known size (not ffmpeg's streamed output, which leaves it unknown) grows too.
      const size = encodeSize(segment.end - segment.start + region.length - oldRegion, segment.sizeWidth);
      if (size.length !== segment.sizeWidth) return 'Segment size field too narrow';
      segmentHeader = Buffer.concat([encodeId(SEGMENT_ID), size]);
    }
    return Buffer.concat([segmentHeader, region]);
  }
  return 'SeekHead layout did not settle';
}
