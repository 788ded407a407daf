import { describe, expect, test } from 'vitest';
import { box, full, largeBox, toEndBox, u32 } from '../../test/support/boxes.js';
import { RenderError, UnsupportedMediaError } from '../errors.js';
import {
  BoxReader,
  lenient,
  MAX_BOX_DEPTH,
  MAX_BOX_READS,
  MalformedBoxError,
  readBoxHeader,
} from './boxes.js';

const shape = (r: BoxReader, parent?: Parameters<BoxReader['children']>[0]) =>
  r.children(parent).map(({ type, offset, headerSize, size }) => ({ type, offset, headerSize, size }));

describe('box headers', () => {
  test('32-bit, 64-bit, size-0 and uuid headers', () => {
    const file = Buffer.concat([
      box('ftyp', Buffer.from('isom')),
      largeBox('mdat', Buffer.alloc(5)),
      box('uuid', Buffer.alloc(16, 0xab), Buffer.from('x')),
      toEndBox('free', Buffer.alloc(3)),
    ]);
    expect(shape(new BoxReader(file))).toEqual([
      { type: 'ftyp', offset: 0, headerSize: 8, size: 12 },
      { type: 'mdat', offset: 12, headerSize: 16, size: 21 },
      { type: 'uuid', offset: 33, headerSize: 24, size: 25 },
      { type: 'free', offset: 58, headerSize: 8, size: 11 },
    ]);
    const mdat = new BoxReader(file).children()[1]!;
    expect([mdat.start, mdat.end]).toEqual([28, 33]);
  });

  test('readBoxHeader needs the whole header, resolves size 0 against the given end, and never rounds', () => {
    const large = largeBox('mdat', Buffer.alloc(0), 2n ** 63n);
    expect(readBoxHeader(large, 0)).toEqual({ type: 'mdat', headerSize: 16, size: Number.POSITIVE_INFINITY });
    expect(readBoxHeader(large.subarray(0, 12), 0)).toBeUndefined();
    expect(readBoxHeader(Buffer.alloc(7), 0)).toBeUndefined();
    expect(readBoxHeader(toEndBox('moov', Buffer.alloc(0)), 0, 1000)).toEqual({
      type: 'moov',
      headerSize: 8,
      size: 1000,
    });
    // 2^53 + 1 has no exact double: treated as unaddressable rather than rounded down to fit.
    expect(readBoxHeader(largeBox('mdat', Buffer.alloc(0), 2n ** 53n + 1n), 0)?.size).toBe(Infinity);
    expect(readBoxHeader(large, -1)).toBeUndefined();
  });
});

describe('strict and lenient walks', () => {
  const good = box('ftyp', Buffer.from('isom'));
  const cases: Array<[string, Buffer]> = [
    ['a size smaller than its header', Buffer.concat([good, u32(4), Buffer.from('free')])],
    ['a size past the end', Buffer.concat([good, u32(0xfffffff0), Buffer.from('mdat'), Buffer.alloc(8)])],
    ['a 64-bit size of 2^63', Buffer.concat([good, largeBox('mdat', Buffer.alloc(8), 2n ** 63n)])],
    ['a 64-bit size smaller than its header', Buffer.concat([good, largeBox('mdat', Buffer.alloc(8), 12n)])],
    ['a cut 64-bit header', Buffer.concat([good, u32(1), Buffer.from('mdat'), Buffer.alloc(4)])],
    ['stray bytes after the last box', Buffer.concat([good, Buffer.alloc(5)])],
  ];

  test.each(cases)('%s: strict throws the typed error, lenient stops before it', (_name, bytes) => {
    expect(() => new BoxReader(bytes).children()).toThrow(MalformedBoxError);
    expect(() => new BoxReader(bytes).children()).toThrow(UnsupportedMediaError);
    const asRender = new BoxReader(bytes, { error: (message) => new RenderError(message) });
    expect(() => asRender.children()).toThrow(RenderError);
    expect(new BoxReader(bytes, { mode: 'lenient' }).children().map((b) => b.type)).toEqual(['ftyp']);
  });

  test('a child that runs past its parent is malformed even when the buffer goes on', () => {
    const parent = box('moov', box('trak', Buffer.alloc(4)));
    parent.writeUInt32BE(100, 8); // the trak claims 100 bytes inside a 20-byte moov
    const bytes = Buffer.concat([parent, Buffer.alloc(200)]);
    const strict = new BoxReader(bytes, { mode: 'strict' });
    expect(() => strict.children(strict.children()[0]!)).toThrow(MalformedBoxError);
    const loose = new BoxReader(bytes, { mode: 'lenient' });
    expect(loose.children(loose.children()[0]!)).toEqual([]);
  });

  test('a range outside the buffer is refused in both modes', () => {
    for (const mode of ['strict', 'lenient'] as const) {
      const r = new BoxReader(Buffer.alloc(16), { mode });
      expect(() => r.children({ start: 8, end: 32 })).toThrow(MalformedBoxError);
      expect(() => r.children({ start: 12, end: 8 })).toThrow(MalformedBoxError);
    }
  });

  test('child, path and findAll', () => {
    const file = Buffer.concat([
      box('moov', box('mvhd', full(0, 0, u32(1000, 5))), box('trak', box('tkhd')), box('trak', box('mdia'))),
      box('moof', box('traf', box('trun')), box('traf', box('trun'), box('trun'))),
    ]);
    const r = new BoxReader(file);
    const moov = r.children()[0]!;
    expect(r.child(moov, 'trak')?.offset).toBe(28);
    expect(r.child(moov, 'udta')).toBeUndefined();
    expect(r.path(moov, ['trak', 'tkhd'])?.type).toBe('tkhd');
    // `path` takes the first trak, which has no mdia.
    expect(r.path(moov, ['trak', 'mdia'])).toBeUndefined();
    expect(r.findAll(['moof', 'traf', 'trun'])).toHaveLength(3);
    expect(r.findAll(['moov', 'trak', 'mdia'])).toHaveLength(1);
    // Walks are memoised: the same parent gives back the same array.
    expect(r.children(moov)).toBe(r.children(moov));
  });
});

describe('fields', () => {
  const mvhd = box('mvhd', full(1, 0x000102, u32(0, 0, 0, 0, 90_000), Buffer.from([0, 0, 0, 1, 0, 0, 0, 2])));

  test('full-box version and flags, integers of every width, four-character codes', () => {
    const r = new BoxReader(mvhd);
    const b = r.children()[0]!;
    expect(r.fullBox(b)).toEqual({ version: 1, flags: 0x102 });
    expect(r.u32(b, 20)).toBe(90_000);
    expect(r.u64(b, 24)).toBe(2n ** 32n + 2n);
    expect(r.u8(b, 0)).toBe(1);
    expect(r.u16(b, 2)).toBe(0x0102);
    expect(r.u24(b, 1)).toBe(0x000102);
    expect(r.i32(b, 24)).toBe(1);
    const hdlr = new BoxReader(box('hdlr', full(0, 0, u32(0), Buffer.from('vide'))));
    expect(hdlr.fourcc(hdlr.children()[0]!, 8)).toBe('vide');
  });

  test('a read past the box end throws in both modes, even when the buffer goes on', () => {
    const bytes = Buffer.concat([mvhd, box('free', Buffer.alloc(64))]);
    for (const mode of ['strict', 'lenient'] as const) {
      const r = new BoxReader(bytes, { mode });
      const b = r.children()[0]!;
      const size = b.end - b.start;
      expect(() => r.u32(b, size - 3)).toThrow(MalformedBoxError);
      expect(() => r.u64(b, size - 7)).toThrow(MalformedBoxError);
      expect(() => r.u8(b, -1)).toThrow(MalformedBoxError);
      expect(() => r.u8(b, 0.5)).toThrow(MalformedBoxError);
    }
    const asRender = new BoxReader(bytes, { error: (message) => new RenderError(message) });
    expect(() => asRender.u32(asRender.children()[0]!, 1000)).toThrow(RenderError);
  });

  test('a table whose declared count does not fit its box fails before any loop', () => {
    const stsz = box('stsz', full(0, 0, u32(0, 3, 10, 20, 30)));
    const r = new BoxReader(stsz);
    const b = r.children()[0]!;
    expect(r.table(b, 12, 3, 4)).toBe(12);
    expect(r.table(b, 12, 0, 4)).toBe(12);
    for (const count of [4, 2 ** 32 - 1, 2 ** 53, -1, Number.NaN]) {
      expect(() => r.table(b, 12, count, 4)).toThrow(MalformedBoxError);
    }
    expect(() => r.table(b, 100, 0, 4)).toThrow(MalformedBoxError);
  });
});

describe('limits', () => {
  test('a buffer of 100 000 empty boxes stops at MAX_BOX_READS, fast, in both modes', () => {
    const many = Buffer.alloc(8 * 100_000);
    for (let i = 0; i < 100_000; i++) {
      many.writeUInt32BE(8, i * 8);
      many.write('free', i * 8 + 4, 'latin1');
    }
    for (const mode of ['strict', 'lenient'] as const) {
      const started = performance.now();
      expect(() => new BoxReader(many, { mode }).children()).toThrow(
        new RegExp(`More than ${MAX_BOX_READS}`),
      );
      expect(performance.now() - started).toBeLessThan(1000);
    }
    expect(new BoxReader(many, { maxBoxReads: 200_000 }).children()).toHaveLength(100_000);
  });

  test('the budget counts every walk of one reader', () => {
    const file = Buffer.concat(Array.from({ length: 10 }, () => box('trak', box('a'), box('b'), box('c'))));
    const r = new BoxReader(file, { mode: 'lenient', maxBoxReads: 30 });
    const traks = r.children();
    for (const trak of traks.slice(0, 6)) r.children(trak);
    expect(() => r.children(traks[6]!)).toThrow(MalformedBoxError);
  });

  test('paths deeper than MAX_BOX_DEPTH are refused; deep nesting costs nothing it was not asked for', () => {
    let nested = box('free');
    for (let i = 0; i < 10_000; i++) nested = box('moov', nested);
    const r = new BoxReader(nested, { mode: 'lenient' });
    const deep = Array.from({ length: MAX_BOX_DEPTH }, () => 'moov');
    expect(r.path({ start: 0, end: nested.length }, deep)?.type).toBe('moov');
    expect(() => r.path({ start: 0, end: nested.length }, [...deep, 'moov'])).toThrow(MalformedBoxError);
    expect(() => r.findAll([...deep, 'moov'])).toThrow(MalformedBoxError);
  });

  test('lenient() maps MalformedBoxError to undefined and lets anything else through', () => {
    const r = new BoxReader(box('free'), { mode: 'lenient' });
    expect(lenient(() => r.u32(r.children()[0]!, 0))).toBeUndefined();
    expect(lenient(() => 7)).toBe(7);
    expect(() =>
      lenient(() => {
        throw new RangeError('a bug');
      }),
    ).toThrow(RangeError);
    expect(() =>
      lenient(() => {
        throw new UnsupportedMediaError('another reason');
      }),
    ).toThrow(UnsupportedMediaError);
  });
});
