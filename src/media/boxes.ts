import { type ProxyError, UnsupportedMediaError } from '../errors.js';

/**
 * The one ISO BMFF box reader (MP4, MOV, 3GP, M4A, CMAF segments). Pure: bytes in, boxes and
 * field values out. Every read is bounds-checked against the box it belongs to, so a size,
 * count or offset a file declares can never make the reader look outside its buffer, allocate
 * in proportion to a declared value, or loop longer than the bytes it was given allow.
 *
 * Two modes, because callers want different things from a malformed box:
 * - `strict` (our own encoder output, CMAF segments): anything malformed throws a typed error,
 *   since a broken segment must not be served.
 * - `lenient` (a source's `moov` read in-process before ffprobe): a walk stops at the first
 *   malformed header and returns what it read so far. Field reads and limits still throw
 *   `MalformedBoxError`; `lenient()` turns that into `undefined`, so the caller falls back to
 *   ffprobe instead of guessing.
 *
 * Box layout (ISO/IEC 14496-12 4.2): a 32-bit size and a four-character type; size 1 means a
 * 64-bit `largesize` follows, size 0 means "to the end of the enclosing range"; a `uuid` box
 * carries a 16-byte user type after that.
 */

/**
 * Most box headers one reader reads in total (every walk counts). A real `moov` has about 15
 * boxes per track and a CMAF segment a few per fragment; this is far above both.
 */
export const MAX_BOX_READS = 20_000;

/** Deepest box path the reader follows; real files nest about 10 deep (moov/trak/.../esds). */
export const MAX_BOX_DEPTH = 32;

/** 415: bytes that are not the ISO BMFF they claim to be, or that exceed the reader's limits. */
export class MalformedBoxError extends UnsupportedMediaError {}

/** One box inside a buffer: its type and where its header, payload and end are. */
export interface Box {
  /** Four characters, latin1 (QuickTime uses bytes above 0x7f, e.g. `\xa9nam`). */
  readonly type: string;
  /** Offset of the box's first header byte. */
  readonly offset: number;
  /** 8; 16 for a 64-bit `largesize` box; 16 more for a `uuid` box's user type. */
  readonly headerSize: number;
  /** Total size in bytes, header included. */
  readonly size: number;
  /** Offset of the payload (`offset + headerSize`). */
  readonly start: number;
  /** Offset just past the box (`offset + size`), exclusive. */
  readonly end: number;
}

/** A byte range of the buffer whose boxes lie end to end (a parent's payload, or a whole file). */
export interface BoxRange {
  readonly start: number;
  readonly end: number;
}

/** A box header as written, before it is checked against the range it sits in. */
export interface BoxHeader {
  readonly type: string;
  readonly headerSize: number;
  /**
   * Declared total size, with size 0 resolved to "up to `end`". A 64-bit size above
   * `Number.MAX_SAFE_INTEGER` is `Infinity`: no buffer or file is that large, and an inexact
   * number would pass bounds checks it should fail.
   */
  readonly size: number;
}

/**
 * The header of the box at `offset`, or `undefined` when `buf` ends before the header does
 * (8 bytes, 16 with a largesize, 16 more for `uuid`). `end` is where the enclosing range ends,
 * used only to resolve size 0; it may lie beyond `buf` (a file read piece by piece).
 */
export function readBoxHeader(buf: Buffer, offset: number, end: number = buf.length): BoxHeader | undefined {
  if (!Number.isSafeInteger(offset) || offset < 0 || offset + 8 > buf.length) return undefined;
  const declared = buf.readUInt32BE(offset);
  // fromCharCode of four bytes is latin1, without a native call per header.
  const type = String.fromCharCode(buf[offset + 4]!, buf[offset + 5]!, buf[offset + 6]!, buf[offset + 7]!);
  let headerSize = 8;
  let size: number;
  if (declared === 1) {
    if (offset + 16 > buf.length) return undefined;
    const large = buf.readBigUInt64BE(offset + 8);
    size = large > BigInt(Number.MAX_SAFE_INTEGER) ? Number.POSITIVE_INFINITY : Number(large);
    headerSize = 16;
  } else if (declared === 0) {
    size = end - offset;
  } else {
    size = declared;
  }
  if (type === 'uuid') {
    headerSize += 16;
    if (offset + headerSize > buf.length) return undefined;
  }
  return { type, headerSize, size };
}

/** What a `BoxReader` does with malformed input, and its limits. */
export interface BoxReaderOptions {
  /** `strict` throws on any malformed header; `lenient` stops the walk there (default `strict`). */
  mode?: 'strict' | 'lenient';
  /** The error strict mode throws (default `MalformedBoxError`), e.g. a `RenderError` for encoder output. */
  error?: (message: string) => ProxyError;
  /** Most box headers read in total (default `MAX_BOX_READS`); more throws in both modes. */
  maxBoxReads?: number;
}

/** Version and flags of a full box (the 4 bytes that open its payload). */
export interface FullBoxHeader {
  version: number;
  flags: number;
}

/**
 * Walks and reads the boxes of one buffer. Field offsets (`at`) are relative to a box's payload
 * start; a read that would cross the box's end throws, whatever the mode. Walks are memoised, so
 * looking up several children of one box reads its headers once.
 */
export class BoxReader {
  /** The bytes being read. */
  readonly buffer: Buffer;
  /** See `BoxReaderOptions.mode`. */
  readonly mode: 'strict' | 'lenient';
  readonly #error: (message: string) => ProxyError;
  readonly #maxBoxReads: number;
  #boxReads = 0;
  readonly #walks = new Map<string, readonly Box[]>();

  constructor(buffer: Buffer, options: BoxReaderOptions = {}) {
    this.buffer = buffer;
    this.mode = options.mode ?? 'strict';
    this.#error = options.error ?? ((message) => new MalformedBoxError(message));
    this.#maxBoxReads = options.maxBoxReads ?? MAX_BOX_READS;
  }

  /**
   * Throws the reader's error: the configured one in strict mode, `MalformedBoxError` in lenient
   * mode (which `lenient()` turns into `undefined`).
   */
  fail(message: string): never {
    throw this.mode === 'strict' ? this.#error(message) : new MalformedBoxError(message);
  }

  /**
   * The boxes laid end to end in `parent`'s payload (or the whole buffer). Strict mode throws on a
   * size smaller than its header, one that runs past the range, or stray bytes after the last
   * box; lenient mode returns the boxes before the first such problem.
   */
  children(parent: Box | BoxRange = { start: 0, end: this.buffer.length }): readonly Box[] {
    const key = `${parent.start}:${parent.end}`;
    const known = this.#walks.get(key);
    if (known) return known;
    if (parent.start < 0 || parent.end > this.buffer.length || parent.start > parent.end) {
      this.fail(`Box range ${parent.start}-${parent.end} lies outside the ${this.buffer.length} bytes read`);
    }
    const boxes: Box[] = [];
    let offset = parent.start;
    while (offset < parent.end) {
      const problem = this.#next(offset, parent.end, boxes);
      if (problem === undefined) {
        offset = boxes[boxes.length - 1]!.end;
        continue;
      }
      if (this.mode === 'strict') this.fail(problem);
      break;
    }
    this.#walks.set(key, boxes);
    return boxes;
  }

  /** Reads the box at `offset` into `boxes`, or says what is wrong with it. */
  #next(offset: number, end: number, boxes: Box[]): string | undefined {
    if (++this.#boxReads > this.#maxBoxReads) {
      throw new MalformedBoxError(`More than ${this.#maxBoxReads} boxes; not reading further`);
    }
    const header = end - offset >= 8 ? readBoxHeader(this.buffer, offset, end) : undefined;
    if (!header) return `${end - offset} stray bytes at ${offset}, too few for a box header`;
    const { type, headerSize, size } = header;
    if (size < headerSize || offset + size > end) {
      return `Box '${printable(type)}' at ${offset} claims ${size} bytes but ${end - offset} remain`;
    }
    boxes.push({ type, offset, headerSize, size, start: offset + headerSize, end: offset + size });
    return undefined;
  }

  /** The first child of `parent` of type `type`. */
  child(parent: Box | BoxRange, type: string): Box | undefined {
    return this.children(parent).find((box) => box.type === type);
  }

  /** Follows `types` down from `parent`, taking the first box of each type. */
  path(parent: Box | BoxRange, types: readonly string[]): Box | undefined {
    this.#checkDepth(types);
    let current: Box | BoxRange | undefined = parent;
    for (const type of types) {
      current = this.child(current, type);
      if (!current) return undefined;
    }
    return current as Box | undefined;
  }

  /** Every box reached by `types` (e.g. `['moof', 'traf', 'trun']`), descending into every match. */
  findAll(types: readonly string[], parent: Box | BoxRange = { start: 0, end: this.buffer.length }): Box[] {
    this.#checkDepth(types);
    const [head, ...rest] = types;
    const found: Box[] = [];
    for (const box of this.children(parent)) {
      if (box.type !== head) continue;
      if (rest.length === 0) found.push(box);
      else found.push(...this.findAll(rest, box));
    }
    return found;
  }

  #checkDepth(types: readonly string[]): void {
    if (types.length > MAX_BOX_DEPTH) this.fail(`Box path deeper than ${MAX_BOX_DEPTH}`);
  }

  /** Version and flags of a full box. */
  fullBox(box: Box): FullBoxHeader {
    const word = this.u32(box, 0);
    return { version: word >>> 24, flags: word & 0xffffff };
  }

  /** Throws unless `width` bytes at payload offset `at` lie inside `box`. */
  #need(box: Box, at: number, width: number): number {
    const position = box.start + at;
    if (!Number.isSafeInteger(at) || at < 0 || position + width > box.end) {
      this.fail(
        `Field at ${at} (+${width}) lies outside the ${box.end - box.start}-byte '${printable(box.type)}' payload`,
      );
    }
    return position;
  }

  /** Unsigned byte at payload offset `at`. */
  u8(box: Box, at: number): number {
    return this.buffer[this.#need(box, at, 1)]!;
  }

  /** Unsigned 16-bit big-endian integer at payload offset `at`. */
  u16(box: Box, at: number): number {
    return this.buffer.readUInt16BE(this.#need(box, at, 2));
  }

  /** Unsigned 24-bit big-endian integer at payload offset `at`. */
  u24(box: Box, at: number): number {
    return this.buffer.readUIntBE(this.#need(box, at, 3), 3);
  }

  /** Unsigned 32-bit big-endian integer at payload offset `at`. */
  u32(box: Box, at: number): number {
    return this.buffer.readUInt32BE(this.#need(box, at, 4));
  }

  /** Signed 32-bit big-endian integer at payload offset `at`. */
  i32(box: Box, at: number): number {
    return this.buffer.readInt32BE(this.#need(box, at, 4));
  }

  /** Unsigned 64-bit big-endian integer at payload offset `at`, exact (callers decide what is too large). */
  u64(box: Box, at: number): bigint {
    return this.buffer.readBigUInt64BE(this.#need(box, at, 8));
  }

  /** Four latin1 characters at payload offset `at` (a handler type, a brand). */
  fourcc(box: Box, at: number): string {
    const position = this.#need(box, at, 4);
    return this.buffer.toString('latin1', position, position + 4);
  }

  /**
   * Checks that a table of `count` entries of `entryBytes` each, starting at payload offset
   * `at`, fits in `box`, and returns the offset of its first entry. A declared count larger than
   * the box can hold fails here, before any loop runs over it.
   */
  table(box: Box, at: number, count: number, entryBytes: number): number {
    const room = box.end - box.start - at;
    if (!Number.isSafeInteger(count) || count < 0 || room < 0 || count > Math.floor(room / entryBytes)) {
      this.fail(
        `'${printable(box.type)}' declares ${count} entries of ${entryBytes} bytes in ${Math.max(0, room)} bytes`,
      );
    }
    return at;
  }
}

/**
 * Runs a read that uses a lenient `BoxReader` and turns `MalformedBoxError` into `undefined`:
 * "not readable here". Any other error (a bug) propagates.
 */
export function lenient<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch (error) {
    if (error instanceof MalformedBoxError) return undefined;
    throw error;
  }
}

/** A box type safe to put in a message (control bytes escaped). */
function printable(type: string): string {
  return type.replace(/[^\x20-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
