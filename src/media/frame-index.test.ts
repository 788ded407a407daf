import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { describe, expect, test } from 'vitest';
import { fixturePath } from '../../test/support/fixtures.js';
import { indexedFrameArgs } from './argv.js';
import {
  FRAME_FILE_CODECS,
  frameMp4,
  pickFrame,
  readVideoSampleIndex,
  type VideoSampleIndex,
} from './frame-index.js';
import { locateMoov } from './isobmff.js';

function moovOf(file: Buffer): Buffer {
  let found = locateMoov(file.subarray(0, 4096), 0, file.length);
  for (let hops = 0; found && 'next' in found && hops < 16; hops++) {
    found = locateMoov(file.subarray(found.next, found.next + 4096), found.next, file.length);
  }
  if (!found || !('moov' in found)) throw new Error('no moov');
  return file.subarray(found.moov.offset, found.moov.offset + found.moov.size);
}

/** Decodes one frame to 8-bit grey pixels: from a frame file on stdin, or by ffmpeg's own seek. */
function grey(args: string[], input?: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'ffmpeg',
      args,
      { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => (error ? reject(new Error(String(stderr))) : resolve(stdout)),
    );
    child.stdin!.end(input);
  });
}

const GREY = ['-f', 'rawvideo', '-pix_fmt', 'gray', 'pipe:1'];

async function frameFromIndex(file: Buffer, index: VideoSampleIndex, seconds: number): Promise<Buffer> {
  const pick = pickFrame(index, seconds);
  const frameFile = frameMp4(index, pick, file.subarray(pick.start, pick.end));
  expect(frameFile, 'frame file built').toBeDefined();
  // The product's own argv, with a grey raw frame instead of a PNG for an exact comparison.
  const args = indexedFrameArgs('unused');
  const output = args.indexOf('-pix_fmt');
  return grey([...args.slice(0, output), ...GREY], frameFile);
}

function seekFrame(name: string, seconds: number): Promise<Buffer> {
  return grey([
    '-v',
    'error',
    '-ss',
    String(seconds),
    '-i',
    fixturePath(name),
    '-map',
    '0:v:0',
    '-frames:v',
    '1',
    ...GREY,
  ]);
}

describe('stills cut from the MP4 index', () => {
  // B-frames (H.264 and HEVC), a rotated phone clip, variable frame rate, MPEG-4 Part 2, moov at the end.
  const cases: [string, number[]][] = [
    ['sample.mp4', [0, 0.5, 1.03, 2.7, 4.99, 11.5]],
    ['hevc-aac.mp4', [0, 1.03, 2.7]],
    ['rotated-phone.mp4', [0, 0.5, 1.03]],
    ['vfr.mp4', [0.5, 2.7, 3]],
    ['mpeg4-aac.mp4', [1, 2.7]],
    ['moov-at-end.mp4', [3, 3.9]],
    ['h264-aac.mov', [0.5, 2.7]],
  ];
  test.each(cases)('%s: the frame equals the one ffmpeg seeks to, pixel for pixel', async (name, times) => {
    const file = await readFile(fixturePath(name));
    const index = readVideoSampleIndex(moovOf(file));
    expect(index).toBeDefined();
    expect(FRAME_FILE_CODECS.has(index!.sampleEntry)).toBe(true);
    for (const seconds of times) {
      const [ours, theirs] = await Promise.all([
        frameFromIndex(file, index!, seconds),
        seekFrame(name, seconds),
      ]);
      expect(theirs.length, `${name} at ${seconds}`).toBeGreaterThan(0);
      expect(ours.equals(theirs), `${name} at ${seconds}`).toBe(true);
    }
  });

  test('a time past the end gives the last frame shown; the file holds only the keyframe interval', async () => {
    const file = await readFile(fixturePath('sample.mp4'));
    const index = readVideoSampleIndex(moovOf(file))!;
    const pick = pickFrame(index, 1e6);
    const shown = (i: number) => index.dts[i]! + index.cto[i]!;
    for (let i = 0; i < index.dts.length; i++) expect(shown(i)).toBeLessThanOrEqual(shown(pick.target));
    expect(index.sync[pick.first]).toBe(1);
    for (let i = pick.first + 1; i <= pick.last; i++) expect(index.sync[i]).toBe(0);
    const frameFile = frameMp4(index, pick, file.subarray(pick.start, pick.end))!;
    expect(frameFile.length).toBeLessThan(file.length / 3);
    const last = await grey([
      '-v',
      'error',
      '-sseof',
      '-0.05',
      '-i',
      fixturePath('sample.mp4'),
      '-frames:v',
      '1',
      ...GREY,
    ]);
    expect((await frameFromIndex(file, index, 1e6)).equals(last)).toBe(true);
  });

  test('sources it does not read exactly are left to ffmpeg, and no input makes it throw', async () => {
    const audio = await readFile(fixturePath('audio-only.m4a'));
    expect(readVideoSampleIndex(moovOf(audio))).toBeUndefined();
    const av1 = readVideoSampleIndex(moovOf(await readFile(fixturePath('av1-opus.mp4'))));
    expect(av1 && FRAME_FILE_CODECS.has(av1.sampleEntry)).toBeFalsy();
    const moov = Buffer.from(moovOf(await readFile(fixturePath('sample.mp4'))));
    // Corrupt 2,000 random bytes, one at a time: an index, or undefined, never an exception.
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed;
    };
    for (let round = 0; round < 2000; round++) {
      const copy = Buffer.from(moov);
      copy[random() % copy.length] = random() % 256;
      const index = readVideoSampleIndex(copy);
      if (index) {
        expect(index.dts.length).toBe(index.sizes.length);
        const pick = pickFrame(index, 3);
        expect(pick.first).toBeLessThanOrEqual(pick.target);
      }
    }
  });

  test('a sample table that lists more samples than its box holds is refused', async () => {
    const moov = Buffer.from(moovOf(await readFile(fixturePath('sample.mp4'))));
    const at = moov.indexOf('stsz', 0, 'latin1');
    // stsz payload: version/flags, uniform size, count.
    moov.writeUInt32BE(0x7fffffff, at + 4 + 8);
    expect(readVideoSampleIndex(moov)).toBeUndefined();
  });
});
