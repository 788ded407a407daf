/**
 * AMF0, the value encoding of RTMP commands (`connect`, `publish`, `onStatus`, `@setDataFrame`).
 * Only what a publisher sends and what we answer; anything else ends the decode with an error,
 * which closes the connection (a garbage stream never reaches ffmpeg).
 */

/** A decoded AMF0 value. */
export type AmfValue = number | boolean | string | null | undefined | AmfObject | AmfValue[];
/** An AMF0 object or ECMA array. */
export interface AmfObject {
  [key: string]: AmfValue;
}

const NUMBER = 0x00;
const BOOLEAN = 0x01;
const STRING = 0x02;
const OBJECT = 0x03;
const NULL = 0x05;
const UNDEFINED = 0x06;
const ECMA_ARRAY = 0x08;
const OBJECT_END = 0x09;
const STRICT_ARRAY = 0x0a;
const DATE = 0x0b;
const LONG_STRING = 0x0c;

/** Nesting a publisher may use; deeper structures are refused rather than recursed into. */
const MAX_DEPTH = 8;
/** Entries in one object or array. */
const MAX_ENTRIES = 1024;

/** Thrown on malformed AMF0; the session closes the connection. */
export class AmfError extends Error {}

class Reader {
  offset = 0;
  constructor(readonly buffer: Buffer) {}

  need(count: number): void {
    if (this.offset + count > this.buffer.length) throw new AmfError('AMF0 value runs past its message');
  }

  u8(): number {
    this.need(1);
    return this.buffer.readUInt8(this.offset++);
  }

  string(lengthBytes: 2 | 4): string {
    this.need(lengthBytes);
    const length =
      lengthBytes === 2 ? this.buffer.readUInt16BE(this.offset) : this.buffer.readUInt32BE(this.offset);
    this.offset += lengthBytes;
    this.need(length);
    const value = this.buffer.toString('utf8', this.offset, this.offset + length);
    this.offset += length;
    return value;
  }

  properties(depth: number): AmfObject {
    const out: AmfObject = {};
    for (let count = 0; ; count++) {
      if (count > MAX_ENTRIES) throw new AmfError('AMF0 object has too many entries');
      const key = this.string(2);
      if (key === '' && this.buffer[this.offset] === OBJECT_END) {
        this.offset++;
        return out;
      }
      // A key like __proto__ must not reach the prototype.
      Object.defineProperty(out, key, { value: this.value(depth + 1), enumerable: true, writable: true });
    }
  }

  value(depth = 0): AmfValue {
    if (depth > MAX_DEPTH) throw new AmfError('AMF0 value nests too deeply');
    const marker = this.u8();
    switch (marker) {
      case NUMBER: {
        this.need(8);
        const value = this.buffer.readDoubleBE(this.offset);
        this.offset += 8;
        return value;
      }
      case BOOLEAN:
        return this.u8() !== 0;
      case STRING:
        return this.string(2);
      case LONG_STRING:
        return this.string(4);
      case OBJECT:
        return this.properties(depth);
      case ECMA_ARRAY:
        this.need(4);
        this.offset += 4; // the count is a hint; the object-end marker is what ends it
        return this.properties(depth);
      case STRICT_ARRAY: {
        this.need(4);
        const count = this.buffer.readUInt32BE(this.offset);
        this.offset += 4;
        if (count > MAX_ENTRIES) throw new AmfError('AMF0 array has too many entries');
        const out: AmfValue[] = [];
        for (let i = 0; i < count; i++) out.push(this.value(depth + 1));
        return out;
      }
      case DATE: {
        this.need(10);
        const value = this.buffer.readDoubleBE(this.offset);
        this.offset += 10;
        return value;
      }
      case NULL:
        return null;
      case UNDEFINED:
        return undefined;
      default:
        throw new AmfError(`AMF0 type ${marker} is not supported`);
    }
  }
}

/** Decodes every value in `buffer` (a command message body). */
export function decodeAmf0(buffer: Buffer): AmfValue[] {
  const reader = new Reader(buffer);
  const values: AmfValue[] = [];
  while (reader.offset < buffer.length) values.push(reader.value());
  return values;
}

function encodeString(value: string, withMarker: boolean): Buffer {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length > 0xffff) {
    const head = Buffer.alloc(5);
    head[0] = LONG_STRING;
    head.writeUInt32BE(bytes.length, 1);
    return Buffer.concat([head, bytes]);
  }
  const head = Buffer.alloc(withMarker ? 3 : 2);
  if (withMarker) head[0] = STRING;
  head.writeUInt16BE(bytes.length, withMarker ? 1 : 0);
  return Buffer.concat([head, bytes]);
}

function encodeValue(value: AmfValue): Buffer {
  if (value === null) return Buffer.from([NULL]);
  if (value === undefined) return Buffer.from([UNDEFINED]);
  if (typeof value === 'number') {
    const out = Buffer.alloc(9);
    out[0] = NUMBER;
    out.writeDoubleBE(value, 1);
    return out;
  }
  if (typeof value === 'boolean') return Buffer.from([BOOLEAN, value ? 1 : 0]);
  if (typeof value === 'string') return encodeString(value, true);
  if (Array.isArray(value)) {
    const head = Buffer.alloc(5);
    head[0] = STRICT_ARRAY;
    head.writeUInt32BE(value.length, 1);
    return Buffer.concat([head, ...value.map(encodeValue)]);
  }
  const parts: Buffer[] = [Buffer.from([OBJECT])];
  for (const [key, entry] of Object.entries(value)) parts.push(encodeString(key, false), encodeValue(entry));
  parts.push(Buffer.from([0, 0, OBJECT_END]));
  return Buffer.concat(parts);
}

/** Encodes `values` one after another, as a command message body. */
export function encodeAmf0(...values: AmfValue[]): Buffer {
  return Buffer.concat(values.map(encodeValue));
}
