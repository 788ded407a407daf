import { describe, expect, test } from 'vitest';
import { box, full, u32 } from '../../test/support/boxes.js';
import { FragmentReader } from './cmaf.js';
import { LiveVariant } from './variant.js';

/** An init segment: ftyp + moov with one track (timescale 90000) and trex defaults. */
function init(): Buffer {
  const mdhd = box('mdhd', full(0, 0, u32(0, 0, 90_000, 0), Buffer.alloc(4)));
  const trak = box('trak', box('mdia', mdhd));
  const trex = box('trex', full(0, 0, u32(1, 1, 3000, 0, 0x10000)));
  return Buffer.concat([box('ftyp', Buffer.from('isom')), box('moov', trak, box('mvex', trex))]);
}

/** moof + mdat: `count` samples of default duration, the first a sync sample when `key`. */
function fragment(decodeTime: number, count: number, key: boolean): Buffer {
  const tfhd = box('tfhd', full(0, 0x020000, u32(1)));
  const tfdt = box(
    'tfdt',
    full(1, 0, Buffer.from(new BigUint64Array([BigInt(decodeTime)]).buffer).reverse()),
  );
  // trun with first_sample_flags (0x04): sync or not; durations from trex.
  const trun = box('trun', full(0, 0x04, u32(count, key ? 0 : 0x10000)));
  return Buffer.concat([box('moof', box('traf', tfhd, tfdt, trun)), box('mdat', Buffer.alloc(100))]);
}

describe('FragmentReader', () => {
  test('hands out the init segment and each fragment with its time, length and sync start, whatever the chunking', () => {
    const stream = Buffer.concat([
      init(),
      fragment(0, 15, true),
      fragment(45_000, 15, false),
      fragment(90_000, 10, true),
    ]);
    for (const size of [1, 7, 100, stream.length]) {
      const reader = new FragmentReader();
      const out = [];
      for (let i = 0; i < stream.length; i += size) out.push(...reader.push(stream.subarray(i, i + size)));
      expect(reader.init?.subarray(4, 8).toString()).toBe('ftyp');
      expect(out.map((f) => [f.start, f.duration, f.independent])).toEqual([
        [0, 0.5, true],
        [0.5, 0.5, false],
        [1, 1 / 3, true],
      ]);
      expect(out[0]!.bytes.subarray(4, 8).toString()).toBe('moof');
    }
  });
  test('a track run declaring more samples than it holds stops the reader', () => {
    // Per-sample durations (0x100) for 1000 samples, with room for one.
    const trun = box('trun', full(0, 0x100, u32(1000, 3000)));
    const moof = box('moof', box('traf', box('tfhd', full(0, 0, u32(1))), trun));
    const reader = new FragmentReader();
    reader.push(init());
    expect(() => reader.push(Buffer.concat([moof, box('mdat', Buffer.alloc(8))]))).toThrow(/declares 1000/);
  });
  test('a box no transcoder writes stops the reader', () => {
    const reader = new FragmentReader();
    expect(() => reader.push(Buffer.from([0, 0, 0, 4, 0x6d, 0x6f, 0x6f, 0x66]))).toThrow(/box size/);
  });
});

describe('LiveVariant', () => {
  test('a complete segment is its parts joined once, the same bytes for every request', () => {
    const variant = new LiveVariant('240p', {
      audio: false,
      segmentSeconds: 1,
      partSeconds: 0.5,
      arrival: (seconds) => seconds * 1000,
    });
    variant.push(Buffer.concat([init(), fragment(0, 15, true), fragment(45_000, 15, false)]));
    variant.push(fragment(90_000, 15, true));
    expect(variant.segments.map((s) => [s.seq, s.parts.length])).toEqual([[0, 2]]);
    const whole = variant.segmentBytes(0)!;
    expect(whole.equals(Buffer.concat([variant.partBytes(0, 0)!, variant.partBytes(0, 1)!]))).toBe(true);
    expect(whole.subarray(4, 8).toString()).toBe('moof');
    expect(variant.segmentBytes(0)).toBe(whole);
    expect(variant.partBytes(1, 0)?.subarray(4, 8).toString()).toBe('moof');
  });
});
