import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startStaticServer, type TestServer } from '../../../test/origin/servers.js';
import { box } from '../../../test/support/boxes.js';
import {
  decodeErrors as decodeErrorsOf,
  ffprobeDuration,
  REAL_FFMPEG,
} from '../../../test/support/ffprobe.js';
import { FIXTURES_DIR } from '../../../test/support/fixtures.js';
import type { VideoPlan } from '../../plan/video.js';
import { videoArgs } from '../video-argv.js';
import { createDurationStamp, type DurationStamp, type StampContainer } from './index.js';

/**
 * The stamp is checked on real ffmpeg output made with the product's own argv (to a pipe, as the
 * render path runs it), then by ffprobe and a full decode; the byte-level edge cases (64-bit
 * upgrades, SeekHead moves, CRC-32, give-ups) are checked on headers built here.
 */

/** Every real output below lasts 3 s of the 12 s sample. */
const SECONDS = 3;

/**
 * The transforms encoded for real: "to the end" is the case the stamp exists for (ffmpeg cannot
 * know the length); a trim passes `-t`, from which ffmpeg's WebM muxer writes a Duration itself,
 * so the stamp must patch that one in place.
 */
const CASES = [
  { name: 'mp4, so-9 (to the end)', container: 'mp4', start: 9, duration: undefined },
  { name: 'mp4, so-2,du-3', container: 'mp4', start: 2, duration: SECONDS },
  { name: 'webm, so-9 (to the end)', container: 'webm', start: 9, duration: undefined },
  { name: 'webm, so-2,du-3', container: 'webm', start: 2, duration: SECONDS },
] as const;
type Case = (typeof CASES)[number];

function plan({ container, start, duration }: Case): VideoPlan {
  return {
    kind: 'video',
    container,
    videoCodec: container === 'mp4' ? 'h264' : 'vp9',
    audioCodec: container === 'mp4' ? 'aac' : 'opus',
    start,
    duration,
    expectedSeconds: SECONDS,
    ops: [{ op: 'resize', width: 320, height: 180 }],
    width: 320,
    height: 180,
    crf: container === 'mp4' ? 23 : 32,
    quality: 50,
    contentType: container === 'mp4' ? 'video/mp4' : 'video/webm',
  };
}

/** Runs ffmpeg with `args` and collects stdout, as the render path reads the encoder's pipe. */
function encode(args: string[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(REAL_FFMPEG, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(Buffer.concat(chunks)) : reject(new Error(`ffmpeg exited ${code}: ${stderr}`)),
    );
  });
}

/** Feeds `data` through `stamp` in the given chunk sizes (cycled), returning what came out. */
function runStamp(stamp: DurationStamp, data: Buffer, sizes: readonly number[]): Buffer[] {
  const out: Buffer[] = [];
  let offset = 0;
  for (let i = 0; offset < data.length; i++) {
    const size = sizes[i % sizes.length]!;
    out.push(...stamp.push(data.subarray(offset, offset + size)));
    offset += size;
  }
  out.push(...stamp.end());
  return out;
}

function stampAll(container: StampContainer, data: Buffer, seconds = SECONDS, sizes = [data.length]): Buffer {
  return Buffer.concat(runStamp(createDurationStamp(container, seconds), data, sizes));
}

let dir: string;
async function probeDuration(bytes: Buffer, name: string): Promise<number | undefined> {
  const file = path.join(dir, name);
  await writeFile(file, bytes);
  return ffprobeDuration(file);
}

/** ffmpeg's verdict on decoding every frame: '' when clean. */
async function decodeErrors(bytes: Buffer, name: string): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, bytes);
  return decodeErrorsOf(file);
}

// -- small independent readers for assertions ------------------------------------------------

/** Payload of the first box at `types` (a path from the top level), or undefined. */
function mp4Box(data: Buffer, ...types: string[]): Buffer | undefined {
  let scope = data;
  for (const type of types) {
    let offset = 0;
    let found: Buffer | undefined;
    while (offset + 8 <= scope.length) {
      const size = scope.readUInt32BE(offset);
      if (size < 8) return undefined;
      if (scope.toString('latin1', offset + 4, offset + 8) === type) {
        found = scope.subarray(offset + 8, offset + size);
        break;
      }
      offset += size;
    }
    if (!found) return undefined;
    scope = found;
  }
  return scope;
}

/** Version and duration of an mvhd/mdhd (`index` 1) or tkhd (`index` 2) payload. */
function fullBoxDuration(payload: Buffer, index: number): { version: number; duration: number } {
  const version = payload[0]!;
  return version === 1
    ? { version, duration: Number(payload.readBigUInt64BE(20 + index * 4)) }
    : { version, duration: payload.readUInt32BE(12 + index * 4) };
}

function timescale(payload: Buffer): number {
  return payload.readUInt32BE(payload[0] === 1 ? 20 : 12);
}

/** Every top-level box type in order, with sizes that must tile the buffer exactly. */
function topLevelTypes(data: Buffer): string[] {
  const types: string[] = [];
  let offset = 0;
  while (offset < data.length) {
    const size = data.readUInt32BE(offset);
    types.push(data.toString('latin1', offset + 4, offset + 8));
    offset += size;
  }
  expect(offset).toBe(data.length);
  return types;
}

interface Ebml {
  id: number;
  start: number;
  end: number;
  offset: number;
}

function ebmlAt(data: Buffer, offset: number): Ebml {
  const first = data[offset]!;
  const idWidth = first >= 0x80 ? 1 : first >= 0x40 ? 2 : first >= 0x20 ? 3 : 4;
  const id = data.readUIntBE(offset, idWidth);
  const sizeFirst = data[offset + idWidth]!;
  let width = 1;
  while (!(sizeFirst & (0x80 >> (width - 1)))) width++;
  let size = sizeFirst & (0xff >> width);
  let unknown = size === 0xff >> width;
  for (let i = 1; i < width; i++) {
    size = size * 256 + data[offset + idWidth + i]!;
    unknown &&= data[offset + idWidth + i] === 0xff;
  }
  const start = offset + idWidth + width;
  return { id, offset, start, end: unknown ? -1 : start + size };
}

function ebmlChildren(data: Buffer, start: number, end: number): Ebml[] {
  const out: Ebml[] = [];
  for (let offset = start; offset < end; ) {
    const element = ebmlAt(data, offset);
    out.push(element);
    offset = element.end;
  }
  return out;
}

/** The WebM head as the assertions need it: Segment data start, its children up to a Cluster. */
function webmHead(data: Buffer) {
  const ebml = ebmlAt(data, 0);
  const segment = ebmlAt(data, ebml.end);
  const top: Ebml[] = [];
  for (let offset = segment.start; offset < data.length; ) {
    const element = ebmlAt(data, offset);
    if (element.id === 0x1f43b675) break;
    top.push(element);
    offset = element.end;
  }
  return { segment, top };
}

function infoDuration(data: Buffer): { seconds: number; width: number } | undefined {
  const { top } = webmHead(data);
  const info = top.find((element) => element.id === 0x1549a966)!;
  const children = ebmlChildren(data, info.start, info.end);
  const scaleElement = children.find((child) => child.id === 0x2ad7b1);
  const scale = scaleElement
    ? data.readUIntBE(scaleElement.start, scaleElement.end - scaleElement.start)
    : 1e6;
  const duration = children.find((child) => child.id === 0x4489);
  if (!duration) return undefined;
  const width = duration.end - duration.start;
  const value = width === 8 ? data.readDoubleBE(duration.start) : data.readFloatBE(duration.start);
  return { seconds: (value * scale) / 1e9, width };
}

/** Every SeekHead entry must point at an element with the ID it names. */
function expectSeeksResolve(data: Buffer): number {
  const { segment, top } = webmHead(data);
  let checked = 0;
  for (const head of top.filter((element) => element.id === 0x114d9b74)) {
    for (const seek of ebmlChildren(data, head.start, head.end).filter((element) => element.id === 0x4dbb)) {
      const fields = ebmlChildren(data, seek.start, seek.end);
      const idField = fields.find((field) => field.id === 0x53ab)!;
      const posField = fields.find((field) => field.id === 0x53ac)!;
      const target = data.readUIntBE(idField.start, idField.end - idField.start);
      const position = data.readUIntBE(posField.start, posField.end - posField.start);
      expect(ebmlAt(data, segment.start + position).id).toBe(target);
      checked++;
    }
  }
  return checked;
}

// -- real ffmpeg output -------------------------------------------------------------------------

const encoded = new Map<string, Buffer>();
let origin: TestServer;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ikvp-stamp-'));
  origin = await startStaticServer(FIXTURES_DIR);
  const input = { url: `${origin.url}sample.mp4`, demuxer: 'mov' as const };
  // One after the other: the machine's two cores are shared.
  for (const item of CASES) encoded.set(item.name, await encode(videoArgs(input, plan(item))));
}, 180_000);

afterAll(async () => {
  await origin?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe.each(CASES)('a streamed $name from the product argv', (item) => {
  const { container } = item;
  const data = () => encoded.get(item.name)!;
  const file = (label: string) => `${label}-${item.start}-${item.duration ?? 'end'}.${container}`;

  test('unstamped, its header lacks the duration (the problem being fixed)', async () => {
    if (container === 'mp4') {
      expect(fullBoxDuration(mp4Box(data(), 'moov', 'mvhd')!, 1).duration).toBe(0);
      expect(mp4Box(data(), 'moov', 'mvex', 'mehd')).toBeUndefined();
      expect(fullBoxDuration(mp4Box(data(), 'moov', 'trak', 'mdia', 'mdhd')!, 1).duration).toBe(0);
    } else if (item.duration === undefined) {
      expect(infoDuration(data())).toBeUndefined();
      expect(await probeDuration(data(), file('raw'))).toBeUndefined();
    } else {
      // ffmpeg knew the length from -t: the stamp only rewrites the value (growth 0 below).
      expect(infoDuration(data())?.seconds).toBeCloseTo(SECONDS, 3);
    }
  });

  test('stamped in any chunking: the same bytes, header rewritten, every later byte untouched', () => {
    const whole = stampAll(container, data());
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 70_000 }), { minLength: 1, maxLength: 20 }), (sizes) => {
        const stamp = createDurationStamp(container, SECONDS);
        const pieces = runStamp(stamp, data(), sizes);
        expect(Buffer.concat(pieces).equals(whole)).toBe(true);
        expect(stamp.state.kind).toBe('stamped');
      }),
      { numRuns: 40 },
    );
    const stamp = createDurationStamp(container, SECONDS);
    runStamp(stamp, data(), [data().length]);
    if (stamp.state.kind !== 'stamped') throw new Error(`not stamped: ${JSON.stringify(stamp.state)}`);
    const { headerBytes, growth } = stamp.state;
    expect(headerBytes).toBeLessThan(4096);
    expect(whole.length).toBe(data().length + growth);
    expect(whole.subarray(headerBytes + growth).equals(data().subarray(headerBytes))).toBe(true);
    // WebM: ffmpeg's Void after the SeekHead absorbs a new Duration, so nothing after Info moves.
    if (container === 'webm') expect(growth).toBe(0);
  });

  test('chunks after the header are passed on as the very same buffers (no copies)', () => {
    const stamp = createDurationStamp(container, SECONDS);
    stamp.push(data().subarray(0, 8192));
    expect(stamp.state.kind).toBe('stamped');
    const later = data().subarray(8192, 20_000);
    const out = stamp.push(later);
    expect(out).toHaveLength(1);
    expect(out[0]).toBe(later);
  });

  test('ffprobe reports the planned duration, from the whole body and from its first bytes alone', async () => {
    const stamped = stampAll(container, data());
    const whole = await probeDuration(stamped, file('whole'));
    expect(whole).toBeDefined();
    expect(Math.abs(whole! - SECONDS)).toBeLessThan(0.1);
    // What a first viewer has early on: the header and the first fragment or cluster.
    const early = await probeDuration(stamped.subarray(0, 30_000), file('early'));
    expect(early).toBeDefined();
    expect(Math.abs(early! - SECONDS)).toBeLessThan(0.1);
    if (container === 'mp4') {
      const raw = await probeDuration(data().subarray(0, 30_000), file('early-raw'));
      expect(raw ?? 0).toBeLessThan(SECONDS - 0.5);
    }
  });

  test('the stamped file still decodes completely, without a single error', async () => {
    expect(await decodeErrors(stampAll(container, data()), file('decode'))).toBe('');
  });

  test('the header fields carry the duration in their own time units', () => {
    const stamped = stampAll(container, data());
    if (container === 'webm') {
      expect(infoDuration(stamped)).toEqual({ seconds: SECONDS, width: 8 });
      expect(expectSeeksResolve(stamped)).toBeGreaterThanOrEqual(2);
      return;
    }
    const moovEnd = 8 + mp4Box(stamped, 'moov')!.length + stamped.readUInt32BE(0);
    expect(topLevelTypes(stamped.subarray(0, moovEnd))).toEqual(['ftyp', 'moov']);
    const mvhd = mp4Box(stamped, 'moov', 'mvhd')!;
    expect(fullBoxDuration(mvhd, 1)).toEqual({ version: 0, duration: SECONDS * timescale(mvhd) });
    const mehd = mp4Box(stamped, 'moov', 'mvex', 'mehd')!;
    expect(mehd.readUInt32BE(4)).toBe(SECONDS * timescale(mvhd));
    expect(fullBoxDuration(mp4Box(stamped, 'moov', 'trak', 'tkhd')!, 2).duration).toBe(
      SECONDS * timescale(mvhd),
    );
    const mdhd = mp4Box(stamped, 'moov', 'trak', 'mdia', 'mdhd')!;
    expect(fullBoxDuration(mdhd, 1).duration).toBe(SECONDS * timescale(mdhd));
  });

  test('stamping a stamped stream again only rewrites the value (fields are patched, not added twice)', () => {
    const once = stampAll(container, data());
    const twice = stampAll(container, once, 5);
    expect(twice.length).toBe(once.length);
    if (container === 'webm') expect(infoDuration(twice)?.seconds).toBe(5);
    else expect(mp4Box(twice, 'moov', 'mvex', 'mehd')!.readUInt32BE(4)).toBe(5 * 1000);
  });
});

// -- byte-level cases -------------------------------------------------------------------------

/** A version-0 mvhd/mdhd payload (the rest zero-filled to a plausible length). */
function headerPayload(scale: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  out.writeUInt32BE(0x0102_0304, 4); // creation time, must survive a 64-bit upgrade
  out.writeUInt32BE(scale, 12);
  out.writeUInt32BE(0xdead, 20); // first field after the duration (rate), must survive too
  return out;
}

function syntheticFragmentedMp4(): Buffer {
  const tkhd = Buffer.alloc(84);
  tkhd.writeUInt32BE(1, 12); // track_ID
  tkhd.writeUInt32BE(0xbeef, 24); // first field after the duration
  const moov = box(
    'moov',
    box('mvhd', headerPayload(1000, 100)),
    box('trak', box('tkhd', tkhd), box('mdia', box('mdhd', headerPayload(90_000, 24)))),
    box('mvex', box('trex', Buffer.alloc(24))),
  );
  return Buffer.concat([box('ftyp', Buffer.from('isom\0\0\0\0isom')), moov, box('moof', Buffer.alloc(8))]);
}

describe('MP4 header edge cases', () => {
  test('a duration past 32 bits upgrades mvhd, tkhd, mdhd and mehd to version 1 with fields kept', () => {
    const seconds = 5_000_000; // 5e9 ticks at 1000/s
    const stamped = stampAll('mp4', syntheticFragmentedMp4(), seconds);
    expect(topLevelTypes(stamped)).toEqual(['ftyp', 'moov', 'moof']);
    const mvhd = mp4Box(stamped, 'moov', 'mvhd')!;
    expect(fullBoxDuration(mvhd, 1)).toEqual({ version: 1, duration: 5_000_000_000 });
    expect(mvhd.length).toBe(112);
    expect(Number(mvhd.readBigUInt64BE(4))).toBe(0x0102_0304);
    expect(timescale(mvhd)).toBe(1000);
    expect(mvhd.readUInt32BE(32)).toBe(0xdead);
    const tkhd = mp4Box(stamped, 'moov', 'trak', 'tkhd')!;
    expect(fullBoxDuration(tkhd, 2)).toEqual({ version: 1, duration: 5_000_000_000 });
    expect(tkhd.readUInt32BE(20)).toBe(1);
    expect(tkhd.readUInt32BE(36)).toBe(0xbeef);
    const mdhd = mp4Box(stamped, 'moov', 'trak', 'mdia', 'mdhd')!;
    expect(fullBoxDuration(mdhd, 1)).toEqual({ version: 1, duration: 450_000_000_000 });
    const mehd = mp4Box(stamped, 'moov', 'mvex', 'mehd')!;
    expect(mehd[0]).toBe(1);
    expect(Number(mehd.readBigUInt64BE(4))).toBe(5_000_000_000);
    // mehd goes first in mvex, trex follows untouched.
    expect(mp4Box(stamped, 'moov', 'mvex')!.toString('latin1', 4, 8)).toBe('mehd');
    expect(mp4Box(stamped, 'moov', 'mvex', 'trex')).toEqual(Buffer.alloc(24));
  });

  test('a short duration keeps version 0 and rounds to the timescale', () => {
    const stamped = stampAll('mp4', syntheticFragmentedMp4(), 2.0004);
    expect(fullBoxDuration(mp4Box(stamped, 'moov', 'mvhd')!, 1)).toEqual({ version: 0, duration: 2000 });
    expect(fullBoxDuration(mp4Box(stamped, 'moov', 'trak', 'mdia', 'mdhd')!, 1)).toEqual({
      version: 0,
      duration: 180_036,
    });
  });

  test('a plain (non-fragmented) MP4 is passed through: its index already knows its length', async () => {
    const data = (await readFile(path.join(FIXTURES_DIR, 'sample.mp4'))).subarray(0, 200_000);
    const stamp = createDurationStamp('mp4', 12);
    expect(Buffer.concat(runStamp(stamp, data, [4096])).equals(data)).toBe(true);
    expect(stamp.state).toMatchObject({ kind: 'unchanged' });
  });

  test('a moof before any moov, or a moov bigger than the limit, gives up at once', () => {
    const moofFirst = box('moof', Buffer.alloc(8));
    const stamp = createDurationStamp('mp4', 3);
    expect(stamp.push(moofFirst)).toEqual([moofFirst]);
    expect(stamp.state).toEqual({ kind: 'unchanged', reason: 'moof box before moov' });
    const data = syntheticFragmentedMp4();
    const small = createDurationStamp('mp4', 3, { maxHeaderBytes: 100 });
    expect(Buffer.concat(runStamp(small, data, [7])).equals(data)).toBe(true);
    expect(small.state.kind).toBe('unchanged');
  });
});

/** EBML helpers for hand-built WebM heads. */
function el(id: number, ...parts: Buffer[]): Buffer {
  const data = Buffer.concat(parts);
  const idBytes = Buffer.alloc(id > 0xffffff ? 4 : id > 0xffff ? 3 : id > 0xff ? 2 : 1);
  idBytes.writeUIntBE(id, 0, idBytes.length);
  if (data.length >= 127) throw new Error('test helper: keep elements small');
  return Buffer.concat([idBytes, Buffer.from([0x80 | data.length]), data]);
}
const uint = (value: number, width = 1) => {
  const out = Buffer.alloc(width);
  out.writeUIntBE(value, 0, width);
  return out;
};
const EBML_HEAD = el(0x1a45dfa3, el(0x4282, Buffer.from('webm')));
const UNKNOWN_SEGMENT = Buffer.from([0x18, 0x53, 0x80, 0x67, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

/** SeekHead (Info, Tracks) + Info [+ CRC-32] + Tracks + Cluster, positions computed. */
function syntheticWebm(options: { crc?: boolean; infoFirst?: boolean } = {}): Buffer {
  const infoBody = Buffer.concat([el(0x2ad7b1, uint(1_000_000, 3)), el(0x4d80, Buffer.from('test'))]);
  const info = el(
    0x1549a966,
    ...(options.crc ? [el(0xbf, uint(crc32(infoBody), 4).reverse()), infoBody] : [infoBody]),
  );
  const tracks = el(0x1654ae6b, el(0xae, el(0xd7, uint(1))));
  const seekHead = (infoAt: number, tracksAt: number) =>
    el(
      0x114d9b74,
      el(0x4dbb, el(0x53ab, uint(0x1549a966, 4)), el(0x53ac, uint(infoAt))),
      el(0x4dbb, el(0x53ab, uint(0x1654ae6b, 4)), el(0x53ac, uint(tracksAt))),
    );
  const cluster = el(0x1f43b675, el(0xe7, uint(0)));
  const headLength = seekHead(0, 0).length;
  const body = options.infoFirst
    ? Buffer.concat([info, seekHead(0, info.length + headLength), tracks])
    : Buffer.concat([seekHead(headLength, headLength + info.length), info, tracks]);
  return Buffer.concat([EBML_HEAD, UNKNOWN_SEGMENT, body, cluster]);
}

describe('WebM header edge cases', () => {
  test('without a Void, Info grows and SeekHead positions after it move with it', () => {
    const data = syntheticWebm();
    const stamped = stampAll('webm', data, 7.5);
    expect(infoDuration(stamped)).toEqual({ seconds: 7.5, width: 8 });
    expect(stamped.length).toBe(data.length + 11);
    expect(expectSeeksResolve(stamped)).toBe(2);
  });

  test('a CRC-32 on Info is recomputed over the new contents', () => {
    const stamped = stampAll('webm', syntheticWebm({ crc: true }), 2);
    const info = webmHead(stamped).top.find((element) => element.id === 0x1549a966)!;
    const [crc, ...rest] = ebmlChildren(stamped, info.start, info.end);
    expect(crc!.id).toBe(0xbf);
    expect(stamped.readUInt32LE(crc!.start)).toBe(crc32(stamped.subarray(rest[0]!.offset, info.end)));
    expect(infoDuration(stamped)?.seconds).toBe(2);
  });

  test('a position that outgrows its byte is widened and the layout settles', () => {
    // No Void to absorb anything, and Tracks just below 256: +11 bytes needs a 2-byte SeekPosition.
    const info = el(0x1549a966, el(0x2ad7b1, uint(1_000_000, 3)));
    const tracks = el(0x1654ae6b, el(0xae, el(0xd7, uint(1))));
    const seekHead = (infoAt: number, tracksAt: number) =>
      el(
        0x114d9b74,
        el(0x4dbb, el(0x53ab, uint(0x1549a966, 4)), el(0x53ac, uint(infoAt))),
        el(0x4dbb, el(0x53ab, uint(0x1654ae6b, 4)), el(0x53ac, uint(tracksAt))),
      );
    const headLength = seekHead(0, 0).length;
    const tags = (total: number) => el(0x1254c367, Buffer.alloc(total - 5));
    const filler = Buffer.concat([tags(120), tags(250 - headLength - 120 - info.length)]);
    const body = Buffer.concat([seekHead(headLength + filler.length, 250), filler, info, tracks]);
    expect(body.indexOf(tracks)).toBe(250);
    const data = Buffer.concat([EBML_HEAD, UNKNOWN_SEGMENT, body]);
    const stamped = stampAll('webm', data, 1);
    expect(expectSeeksResolve(stamped)).toBe(2);
    expect(stamped.length).toBe(data.length + 11 + 1);
    expect(infoDuration(stamped)?.seconds).toBe(1);
  });

  test('Info before the SeekHead: the positions are still right', () => {
    const stamped = stampAll('webm', syntheticWebm({ infoFirst: true }), 4);
    expect(expectSeeksResolve(stamped)).toBe(2);
    expect(infoDuration(stamped)?.seconds).toBe(4);
  });

  test('a Segment of known size grows with its head', () => {
    const unknown = syntheticWebm();
    const bodyLength = unknown.length - EBML_HEAD.length - UNKNOWN_SEGMENT.length;
    const sized = Buffer.from(unknown);
    const at = EBML_HEAD.length + 4;
    sized.fill(0, at + 1, at + 8);
    sized.writeUIntBE(bodyLength, at + 2, 6);
    expect(ebmlAt(sized, EBML_HEAD.length).end).toBe(sized.length);
    const stamped = stampAll('webm', sized, 3);
    const segment = ebmlAt(stamped, EBML_HEAD.length);
    expect(segment.end).toBe(stamped.length);
  });

  test('not WebM, or a Cluster before any Info, passes through unchanged', () => {
    for (const data of [
      Buffer.from('not an ebml file at all'),
      Buffer.concat([EBML_HEAD, UNKNOWN_SEGMENT, el(0x1f43b675)]),
    ]) {
      const stamp = createDurationStamp('webm', 3);
      expect(Buffer.concat(runStamp(stamp, data, [3])).equals(data)).toBe(true);
      expect(stamp.state.kind).toBe('unchanged');
    }
  });
});

describe('pass-through rules', () => {
  test.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY])('a duration of %s stamps nothing', (seconds) => {
    const data = syntheticFragmentedMp4();
    const stamp = createDurationStamp('mp4', seconds);
    const first = data.subarray(0, 10);
    expect(stamp.push(first)).toEqual([first]);
    expect(stamp.state).toEqual({ kind: 'unchanged', reason: 'duration unknown' });
  });

  test('a stream that ends inside its header is returned as it came', () => {
    const data = syntheticWebm().subarray(0, 40);
    const stamp = createDurationStamp('webm', 3);
    expect(stamp.push(data)).toEqual([]);
    expect(Buffer.concat(stamp.end()).equals(data)).toBe(true);
    expect(stamp.state).toEqual({ kind: 'unchanged', reason: 'stream ended inside the header' });
  });

  test('no more than maxHeaderBytes is ever held back', () => {
    const endless = Buffer.concat([
      EBML_HEAD,
      UNKNOWN_SEGMENT,
      Buffer.from([0xec, 0x01, 0, 0, 0, 0, 0, 0x10, 0]),
    ]);
    const stamp = createDurationStamp('webm', 3, { maxHeaderBytes: 4096 });
    let held = endless.length;
    expect(stamp.push(endless)).toEqual([]);
    while (stamp.state.kind === 'buffering') {
      const out = stamp.push(Buffer.alloc(1000));
      held += 1000;
      if (out.length) {
        expect(Buffer.concat(out).length).toBe(held);
        break;
      }
      expect(held).toBeLessThan(4096);
    }
    expect(stamp.state.kind).toBe('unchanged');
  });
});
