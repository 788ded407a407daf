import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { UnprocessableError, UnsupportedMediaError } from '../../src/errors.js';
import { type Box, type BoxRange, BoxReader } from '../../src/media/boxes.js';
import { locateMoov, MAX_MOOV_BYTES, parseMoov } from '../../src/media/isobmff.js';
import type { MediaInfo } from '../../src/media/types.js';
import { box } from '../support/boxes.js';
import { fixturePath, loadManifest } from '../support/fixtures.js';
import { timedRead } from '../support/hostile.js';

/**
 * Fuzzes the in-process MP4 index reader with the real fixtures' moov boxes, mutating exactly the
 * fields it reads (box sizes, 64-bit sizes, entry counts, timescales, durations, dimensions,
 * versions, descriptor bytes) to absurd and random values. Whatever the bytes say, `parseMoov`
 * and `locateMoov` must answer within 50 ms, with `undefined`, a typed 415/422 error, or facts
 * whose numbers are all finite and non-negative, and the heap must not grow with declared sizes.
 */

/** Runs per property; the seed is fixed so a failure reproduces (FUZZ_SEED explores others). */
const RUNS = Number(process.env.FUZZ_RUNS ?? 1000);
const SEED = Number(process.env.FUZZ_SEED ?? 0x15_0b_ff);
const BUDGET_MS = 50;

/** A field the reader looks at: where it is in the moov and how wide. */
interface Site {
  at: number;
  width: 1 | 2 | 4 | 8;
  what: string;
}

/** Boxes whose payload is nothing but boxes. */
const CONTAINERS = new Set(['moov', 'trak', 'mdia', 'minf', 'stbl', 'edts', 'dinf', 'udta', 'mvex']);

/** Payload offsets (and widths) of the fields the parser reads, per full-box type and version. */
function fieldSites(type: string, version: number): Array<[number, 1 | 2 | 4 | 8, string]> {
  const v1 = version === 1;
  switch (type) {
    case 'mvhd':
    case 'mdhd':
      return v1
        ? [
            [20, 4, 'timescale'],
            [24, 8, 'duration'],
          ]
        : [
            [12, 4, 'timescale'],
            [16, 4, 'duration'],
          ];
    case 'tkhd':
      return v1
        ? [
            [28, 8, 'duration'],
            [52, 4, 'matrix a'],
            [56, 4, 'matrix b'],
            [88, 4, 'width'],
            [92, 4, 'height'],
          ]
        : [
            [20, 4, 'duration'],
            [40, 4, 'matrix a'],
            [44, 4, 'matrix b'],
            [76, 4, 'width'],
            [80, 4, 'height'],
          ];
    case 'hdlr':
      return [[8, 4, 'handler']];
    case 'elst':
      return [
        [4, 4, 'entry count'],
        [8, 4, 'segment duration'],
      ];
    case 'stts':
      return [
        [4, 4, 'entry count'],
        [8, 4, 'sample count'],
        [12, 4, 'sample delta'],
      ];
    case 'stsz':
      return [
        [4, 4, 'sample size'],
        [8, 4, 'sample count'],
        [12, 4, 'first size'],
      ];
    case 'stsd':
    case 'stsc':
    case 'stco':
    case 'co64':
    case 'stss':
    case 'ctts':
      return [[4, 4, 'entry count']];
    default:
      return [];
  }
}

/** Every size field and every field the parser reads, found with the box reader on a valid moov. */
function sitesOf(moov: Buffer): Site[] {
  const r = new BoxReader(moov, { mode: 'lenient' });
  const sites: Site[] = [];
  const visit = (range: Box | BoxRange, path: string): void => {
    for (const box of r.children(range)) {
      const here = `${path}/${box.type}`;
      sites.push({ at: box.offset, width: 4, what: `${here} size` });
      const version = box.end > box.start ? moov[box.start]! : 0;
      if (fieldSites(box.type, version).length > 0)
        sites.push({ at: box.start, width: 1, what: `${here} version` });
      for (const [at, width, what] of fieldSites(box.type, version)) {
        if (box.start + at + width <= box.end)
          sites.push({ at: box.start + at, width, what: `${here} ${what}` });
      }
      if (CONTAINERS.has(box.type)) visit(box, here);
      if (box.type === 'stsd' && box.start + 8 <= box.end) {
        for (const entry of r.children({ start: box.start + 8, end: box.end })) {
          const name = `${here}/${entry.type}`;
          sites.push({ at: entry.offset, width: 4, what: `${name} size` });
          // Video: width, height at 24/26. Audio: version 8, channels 16, rate 24.
          for (const [at, what] of [
            [8, 'version'],
            [16, 'channels'],
            [24, 'width/rate'],
            [26, 'height'],
          ] as const) {
            if (entry.start + at + 2 <= entry.end)
              sites.push({ at: entry.start + at, width: 2, what: `${name} ${what}` });
          }
          for (const fixed of [28, 78]) {
            if (entry.start + fixed > entry.end) continue;
            for (const inner of r.children({ start: entry.start + fixed, end: entry.end })) {
              sites.push({ at: inner.offset, width: 4, what: `${name}/${inner.type} size` });
              if (inner.type !== 'esds') continue;
              // The descriptor chain: tags, variable-length sizes, flags, object type, AudioSpecificConfig.
              for (let at = inner.start + 4; at < Math.min(inner.end, inner.start + 48); at++) {
                sites.push({ at, width: 1, what: `${name}/esds byte ${at - inner.start}` });
              }
            }
          }
        }
      }
    }
  };
  visit({ start: 0, end: moov.length }, '');
  return sites;
}

/** A real fixture's moov and the sizes around it. */
interface Sample {
  name: string;
  file: Buffer;
  moov: Buffer;
  moovOffset: number;
  sites: Site[];
  /** The sites grouped by what they are (every size field, every timescale, ...), so each kind is picked as often. */
  groups: Site[][];
}

/** The field a site holds, without its box path: `size`, `timescale`, `entry count`, ... */
const fieldName = (site: Site) => site.what.replace(/^\S*\s/, '').replace(/^byte \d+$/, 'esds byte');

function groupSites(sites: Site[]): Site[][] {
  const groups = new Map<string, Site[]>();
  for (const site of sites) groups.set(fieldName(site), [...(groups.get(fieldName(site)) ?? []), site]);
  return [...groups.values()];
}

function moovOf(file: Buffer): { offset: number; size: number } | undefined {
  let found = locateMoov(file.subarray(0, 4096), 0, file.length);
  for (let hops = 0; found && 'next' in found && hops < 16; hops++) {
    found = locateMoov(file.subarray(found.next, found.next + 4096), found.next, file.length);
  }
  return found && 'moov' in found ? found.moov : undefined;
}

const samples: Sample[] = loadManifest()
  .filter((e) => e.kind !== 'hostile' && /\.(mp4|mov|3gp|m4a)$/.test(e.name))
  .map((entry) => {
    const file = readFileSync(fixturePath(entry.name));
    const located = moovOf(file)!;
    const moov = Buffer.from(file.subarray(located.offset, located.offset + located.size));
    const sites = sitesOf(moov);
    return { name: entry.name, file, moov, moovOffset: located.offset, sites, groups: groupSites(sites) };
  });

const U32_EDGES = [
  0, 1, 2, 7, 8, 9, 12, 15, 16, 255, 0x7fff, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffff0, 0xfffffffe,
  0xffffffff,
];
const U64_EDGES = [0n, 1n, 8n, 16n, 2n ** 32n, 2n ** 53n - 1n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n];

/** One change to a moov's bytes. */
type Mutation =
  | { kind: 'field'; group: number; site: number; u32: number; u64: bigint }
  | { kind: 'site'; site: number; u32: number; u64: bigint }
  | { kind: 'size near'; site: number; delta: number }
  | { kind: 'largesize'; site: number; u64: bigint }
  | { kind: 'byte'; at: number; value: number }
  | { kind: 'truncate'; at: number };

// Mostly edge values: the bugs live at 0, 1, the header sizes and the top of each range.
const u32 = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...U32_EDGES) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffffffff }) },
);
const u64 = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...U64_EDGES) },
  { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }) },
);
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({ kind: fc.constant('field' as const), group: fc.nat(), site: fc.nat(), u32, u64 }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('size near' as const),
      site: fc.nat(),
      delta: fc.integer({ min: -24, max: 24 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('largesize' as const), site: fc.nat(), u64 }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('byte' as const),
      at: fc.nat(),
      value: fc.integer({ min: 0, max: 255 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }) },
);

/** Applies `mutations` to a copy of `sample.moov`. */
function mutate(sample: Sample, mutations: readonly Mutation[]): Buffer {
  let moov = Buffer.from(sample.moov);
  const sizeSites = sample.sites.filter((s) => s.what.endsWith(' size'));
  for (const m of mutations) {
    if (m.kind === 'byte') {
      moov[m.at % moov.length] = m.value;
    } else if (m.kind === 'truncate') {
      moov = Buffer.from(moov.subarray(0, m.at % (moov.length + 1)));
      // Keep the root's size honest, so the cut lands inside the boxes it holds.
      if (moov.length >= 8) moov.writeUInt32BE(moov.length, 0);
    } else if (m.kind === 'field' || m.kind === 'site') {
      const group = m.kind === 'field' ? sample.groups[m.group % sample.groups.length]! : sample.sites;
      const site = group[m.site % group.length]!;
      if (site.at + site.width > moov.length) continue;
      if (site.width === 8) moov.writeBigUInt64BE(m.u64, site.at);
      else if (site.width === 4) moov.writeUInt32BE(m.u32, site.at);
      else if (site.width === 2) moov.writeUInt16BE(m.u32 & 0xffff, site.at);
      else moov[site.at] = m.u32 & 0xff;
    } else {
      const site = sizeSites[m.site % sizeSites.length]!;
      if (site.at + 16 > moov.length) continue;
      if (m.kind === 'largesize') {
        moov.writeUInt32BE(1, site.at);
        moov.writeBigUInt64BE(m.u64, site.at + 8);
      } else {
        moov.writeUInt32BE(Math.max(0, Math.min(0xffffffff, moov.readUInt32BE(site.at) + m.delta)), site.at);
      }
    }
  }
  return moov;
}

function expectFiniteNonNegative(value: number, what: string): void {
  expect(Number.isFinite(value) && value >= 0, `${what} = ${value}`).toBe(true);
}

/** `parseMoov`'s answer is undefined or facts whose every number is finite and non-negative. */
function expectSane(info: MediaInfo | undefined): void {
  if (info === undefined) return;
  expectFiniteNonNegative(info.duration, 'duration');
  expect(info.duration).toBeGreaterThan(0);
  expectFiniteNonNegative(info.bitRate, 'bitRate');
  expectFiniteNonNegative(info.size, 'size');
  expect(Number.isInteger(info.streamCount) && info.streamCount >= 1).toBe(true);
  expect(info.video || info.audio).toBeTruthy();
  if (info.video) {
    const v = info.video;
    for (const [name, value] of Object.entries({
      width: v.width,
      height: v.height,
      codedWidth: v.codedWidth,
      codedHeight: v.codedHeight,
    })) {
      expect(Number.isInteger(value) && value >= 1 && value <= 65_535, `${name} = ${value}`).toBe(true);
    }
    expect([0, 90, 180, 270]).toContain(v.rotation);
    expectFiniteNonNegative(v.frameRate, 'frameRate');
    // At least two samples over a finite, positive length.
    expect(v.frameRate).toBeGreaterThan(0);
    expectFiniteNonNegative(v.bitRate, 'video bitRate');
  }
  if (info.audio) {
    expectFiniteNonNegative(info.audio.sampleRate, 'sampleRate');
    expectFiniteNonNegative(info.audio.channels, 'channels');
    expectFiniteNonNegative(info.audio.bitRate, 'audio bitRate');
  }
}

/** Calls `read` within the time budget; anything thrown must be a typed 415/422. */
function expectBounded<T>(read: () => T, check: (value: T) => void): void {
  let thrown: unknown;
  const { value, ms } = timedRead(() => {
    try {
      return read();
    } catch (error) {
      thrown = error;
      return undefined;
    }
  }, BUDGET_MS);
  expect(ms, 'time (ms)').toBeLessThan(BUDGET_MS);
  if (thrown !== undefined) {
    expect(
      thrown instanceof UnsupportedMediaError || thrown instanceof UnprocessableError,
      String(thrown),
    ).toBe(true);
    return;
  }
  check(value as T);
}

const fileSize = (sample: Sample) =>
  fc.oneof(
    { weight: 6, arbitrary: fc.constant(sample.file.length) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        0,
        1,
        -1,
        2 ** 53,
        Number.NaN,
        Number.POSITIVE_INFINITY,
        1.5,
        sample.moov.length,
      ),
    },
  );

describe('the MP4 index reader under mutated input', () => {
  test('every fixture moov parses and offers fields to mutate', () => {
    expect(samples.length).toBeGreaterThanOrEqual(10);
    for (const sample of samples) {
      expect(parseMoov(sample.moov, sample.file.length), sample.name).toBeDefined();
      const kinds = new Set(sample.sites.map(fieldName));
      expect([...kinds], sample.name).toEqual(
        expect.arrayContaining(['size', 'timescale', 'duration', 'sample count', 'entry count']),
      );
    }
  });

  test(`parseMoov: ${RUNS} runs of 1-4 mutations, bounded time, typed errors only, finite facts, bounded heap`, () => {
    const heapBefore = process.memoryUsage().heapUsed;
    fc.assert(
      fc.property(
        fc.nat({ max: samples.length - 1 }).chain((index) =>
          fc.record({
            index: fc.constant(index),
            mutations: fc.array(mutation, { minLength: 1, maxLength: 4 }),
            fileSize: fileSize(samples[index]!),
          }),
        ),
        ({ index, mutations, fileSize }) => {
          const sample = samples[index]!;
          const moov = mutate(sample, mutations);
          expectBounded(() => parseMoov(moov, fileSize), expectSane);
        },
      ),
      { numRuns: RUNS, seed: SEED },
    );
    const grownMb = (process.memoryUsage().heapUsed - heapBefore) / 1024 / 1024;
    expect(grownMb, 'heap growth (MB)').toBeLessThan(50);
  });

  test(`locateMoov: ${RUNS} runs of mutated top-level headers, bounded hops and time`, () => {
    fc.assert(
      fc.property(
        fc.nat({ max: samples.length - 1 }),
        fc.array(
          fc.record({
            box: fc.nat(),
            largesize: fc.boolean(),
            u32,
            u64,
            typeByte: fc.option(fc.integer({ min: 0, max: 255 }), { nil: undefined }),
          }),
          { minLength: 1, maxLength: 3 },
        ),
        fc.oneof(
          { weight: 4, arbitrary: fc.constant(0) },
          { weight: 1, arbitrary: fc.integer({ min: -64, max: 64 }) },
        ),
        (index, changes, sizeDelta) => {
          const sample = samples[index]!;
          const size = sample.file.length + sizeDelta;
          // Only the head and the region around the moov are patched; reads go through `read`.
          const head = Buffer.from(sample.file.subarray(0, 64 * 1024));
          const tops = new BoxReader(sample.file, { mode: 'lenient' })
            .children()
            .filter((b) => b.offset + 16 <= head.length);
          for (const change of changes) {
            const top = tops[change.box % tops.length];
            if (!top) continue;
            if (change.largesize) {
              head.writeUInt32BE(1, top.offset);
              head.writeBigUInt64BE(change.u64, top.offset + 8);
            } else {
              head.writeUInt32BE(change.u32, top.offset);
            }
            if (change.typeByte !== undefined) head[top.offset + 4] = change.typeByte;
          }
          const read = (at: number, length: number) =>
            at < head.length ? head.subarray(at, at + length) : sample.file.subarray(at, at + length);
          expectBounded(
            () => {
              // As the render path does: the head, then at most 8 hops of 64-byte reads.
              let found = locateMoov(head, 0, size);
              for (let hops = 0; found && 'next' in found && hops < 8; hops++) {
                if (found.next + 8 > size) return undefined;
                found = locateMoov(read(found.next, 64), found.next, size);
              }
              return found;
            },
            (found) => {
              if (!found) return;
              if ('moov' in found) {
                const { offset, size: moovSize } = found.moov;
                expect(Number.isSafeInteger(offset) && offset >= 0).toBe(true);
                expect(Number.isSafeInteger(moovSize) && moovSize >= 8).toBe(true);
                expect(offset + moovSize).toBeLessThanOrEqual(size);
              } else {
                expect(Number.isSafeInteger(found.next) && found.next >= 0).toBe(true);
              }
            },
          );
        },
      ),
      { numRuns: RUNS, seed: SEED },
    );
  });

  test('every field of three fixtures set to every edge value: bounded, typed, finite', () => {
    let runs = 0;
    for (const sample of samples.filter((s) =>
      ['sample.mp4', 'audio-only.m4a', 'h264-aac.mov'].includes(s.name),
    )) {
      // One working copy, each field written and then restored: no copy per run.
      const moov = Buffer.from(sample.moov);
      for (const site of sample.sites) {
        const original = Buffer.from(moov.subarray(site.at, site.at + site.width));
        const values = site.width === 8 ? U64_EDGES : U32_EDGES;
        for (const value of values) {
          if (site.width === 8) moov.writeBigUInt64BE(value as bigint, site.at);
          else if (site.width === 4) moov.writeUInt32BE(value as number, site.at);
          else if (site.width === 2) moov.writeUInt16BE((value as number) & 0xffff, site.at);
          else moov[site.at] = (value as number) & 0xff;
          expectBounded(() => parseMoov(moov, sample.file.length), expectSane);
          runs++;
        }
        original.copy(moov, site.at);
      }
    }
    expect(runs).toBeGreaterThan(500);
  });
});

const words = (...values: number[]) => {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => {
    b.writeUInt32BE(v, i * 4);
  });
  return b;
};

describe('absurd but structurally valid indexes', () => {
  const sample = samples.find((s) => s.name === 'sample.mp4')!;

  test('a moov of 100 000 empty boxes, and one nested 10 000 deep, are refused at once', () => {
    const header = (type: string, size: number) => {
      const h = Buffer.alloc(8);
      h.writeUInt32BE(size);
      h.write(type, 4, 'latin1');
      return h;
    };
    // Built without per-box concatenation: a repeated 8-byte pattern, and headers written in place.
    const flat = Buffer.alloc(8 * 100_001, header('trak', 8));
    header('moov', flat.length).copy(flat, 0);
    expectBounded(
      () => parseMoov(flat, 10 ** 9),
      (info) => expect(info).toBeUndefined(),
    );
    const nested = Buffer.alloc(8 * 10_001);
    for (let depth = 0; depth <= 10_000; depth++) {
      const type = depth === 0 ? 'moov' : depth === 10_000 ? 'free' : 'trak';
      header(type, nested.length - depth * 8).copy(nested, depth * 8);
    }
    expectBounded(
      () => parseMoov(nested, 10 ** 9),
      (info) => expect(info).toBeUndefined(),
    );
  });

  test('the largest index read in-process (32 MB: 8 M sample sizes) parses in well under a second', () => {
    const r = new BoxReader(sample.moov);
    const count = Math.floor((MAX_MOOV_BYTES - sample.moov.length - 64) / 4);
    // The first track rebuilt with its path to stsz always the last child, so the 32 MB table
    // can be appended in one copy and the ancestors' sizes grown in place (no 32 MB concatenations).
    const rebuild = (path: string[], replace: string, last: Buffer): Buffer => {
      const parent = r.findAll(path)[0]!;
      const others = r
        .children(parent)
        .filter((b) => b.type !== replace && (replace !== 'stsz' || b.type !== 'stts'));
      return box(parent.type, ...others.map((b) => sample.moov.subarray(b.offset, b.end)), last);
    };
    // `count` zero-byte samples, one stts entry that agrees.
    const stbl = rebuild(
      ['moov', 'trak', 'mdia', 'minf', 'stbl'],
      'stsz',
      Buffer.concat([box('stts', words(0, 1, count, 1)), box('stsz', words(0, 0, count))]),
    );
    const minf = rebuild(['moov', 'trak', 'mdia', 'minf'], 'stbl', stbl);
    const mdia = rebuild(['moov', 'trak', 'mdia'], 'minf', minf);
    const trak = rebuild(['moov', 'trak'], 'mdia', mdia);
    const mvhd = r.findAll(['moov', 'mvhd'])[0]!;
    const small = box('moov', sample.moov.subarray(mvhd.offset, mvhd.end), trak);
    const moov = Buffer.alloc(small.length + count * 4);
    small.copy(moov);
    const stsz = new BoxReader(small).findAll(['moov', 'trak', 'mdia', 'minf', 'stbl', 'stsz'])[0]!;
    expect(stsz.end, 'stsz is the last box of every ancestor').toBe(small.length);
    for (const path of [
      ['moov'],
      ['moov', 'trak'],
      ['moov', 'trak', 'mdia'],
      ['moov', 'trak', 'mdia', 'minf'],
      ['moov', 'trak', 'mdia', 'minf', 'stbl'],
      ['moov', 'trak', 'mdia', 'minf', 'stbl', 'stsz'],
    ]) {
      const at = new BoxReader(small).findAll(path)[0]!.offset;
      moov.writeUInt32BE(moov.readUInt32BE(at) + count * 4, at);
    }
    expect(moov.length).toBeLessThanOrEqual(MAX_MOOV_BYTES);
    const { value: info, ms } = timedRead(() => parseMoov(moov, sample.file.length), 1000);
    expect(info?.video?.codedWidth).toBe(1280);
    expectSane(info);
    expect(ms, `CPU time to parse a ${(moov.length / 2 ** 20).toFixed(1)} MB moov (ms)`).toBeLessThan(1000);
  });

  test('timescale 0, an all-ones 64-bit duration and a 2^53+1 duration are "not readable here"', () => {
    const r = new BoxReader(sample.moov);
    const mvhd = r.findAll(['moov', 'mvhd'])[0]!;
    const zero = Buffer.from(sample.moov);
    zero.writeUInt32BE(0, mvhd.start + 12);
    expect(parseMoov(zero, sample.file.length)).toBeUndefined();
    // Version 1 mvhd in place of the version 0 one: same box, 12 more bytes.
    for (const duration of [2n ** 64n - 1n, 2n ** 53n + 1n]) {
      const v1 = Buffer.alloc(4 + 28);
      v1.writeUInt32BE(0x01000000, 0);
      v1.writeUInt32BE(1000, 20);
      v1.writeBigUInt64BE(duration, 24);
      const rest = sample.moov.subarray(mvhd.start + 20, mvhd.end);
      const newMvhd = box('mvhd', v1, rest);
      const moov = box('moov', newMvhd, sample.moov.subarray(mvhd.end));
      expect(parseMoov(moov, sample.file.length)).toBeUndefined();
      const sane = Buffer.from(v1);
      sane.writeBigUInt64BE(12_000n, 24);
      expect(
        parseMoov(box('moov', box('mvhd', sane, rest), sample.moov.subarray(mvhd.end)), sample.file.length)
          ?.duration,
      ).toBe(12);
    }
  });
});
