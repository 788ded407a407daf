import { crc32 } from 'node:zlib';
import type { Scan } from './scan.js';

/* The WebM half of the duration stamp: adds Duration to Segment Info, keeping the SeekHead right. */

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
export function scanWebm(buffer: Buffer, seconds: number): Scan {
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
