import { readBoxHeader } from '../boxes.js';
import type { Scan } from './scan.js';

/* The fragmented-MP4 half of the duration stamp: rewrites `moov` (mvhd, mehd, tkhd, mdhd). */

/** A box inside a buffer: header at `offset`, payload from `start` to `end`. */
interface Box {
  type: string;
  offset: number;
  start: number;
  end: number;
}

/** The child boxes between `start` and `end`; `undefined` if they do not tile it exactly. */
function childBoxes(buffer: Buffer, start: number, end: number): Box[] | undefined {
  const out: Box[] = [];
  let offset = start;
  while (offset < end) {
    const head = readBoxHeader(buffer, offset, end);
    if (!head || head.size < head.headerSize || offset + head.size > end) return undefined;
    out.push({ type: head.type, offset, start: offset + head.headerSize, end: offset + head.size });
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
export function scanMp4(buffer: Buffer, seconds: number, limit: number): Scan {
  let offset = 0;
  for (;;) {
    // A size-0 box runs to the end of a file this stream does not have yet: never a header.
    const head = readBoxHeader(buffer, offset, Number.POSITIVE_INFINITY);
    if (!head) return { kind: 'more' };
    if (!Number.isFinite(head.size) || head.size < head.headerSize)
      return { kind: 'skip', reason: `unsized ${head.type} box` };
    if (offset + head.size > limit) return { kind: 'skip', reason: `header longer than ${limit} bytes` };
    if (head.type !== 'moov' && !MP4_LEADING_BOXES.has(head.type))
      return { kind: 'skip', reason: `${head.type} box before moov` };
    if (offset + head.size > buffer.length) return { kind: 'more' };
    if (head.type === 'moov') {
      const moov: Box = { type: 'moov', offset, start: offset + head.headerSize, end: offset + head.size };
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
