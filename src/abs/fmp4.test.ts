import { describe, expect, test } from 'vitest';
import { box, full, u32 } from '../../test/support/boxes.js';
import { readFragments } from '../../test/support/fmp4.js';
import { RenderError } from '../errors.js';
import { BoxReader } from '../media/boxes.js';
import { splitInitAndMedia } from './fmp4.js';

const types = (buf: Buffer, path: string[] = []) =>
  (path.length ? new BoxReader(buf).findAll(path) : new BoxReader(buf).children()).map((b) => b.type);

/** A moof whose trun lists per-sample durations (flags 0x101: data offset + durations). */
function fragment(trackId: number, decodeTime: bigint, durations: number[]): Buffer {
  const tfdtBody = Buffer.alloc(8);
  tfdtBody.writeBigUInt64BE(decodeTime);
  return box(
    'moof',
    box('mfhd', full(0, 0, u32(1))),
    box(
      'traf',
      box('tfhd', full(0, 0x20000, u32(trackId))),
      box('tfdt', full(1, 0, tfdtBody)),
      box('trun', full(0, 0x101, u32(durations.length, 0, ...durations))),
    ),
  );
}

describe('fmp4', () => {
  const init = Buffer.concat([
    box('ftyp', Buffer.from('iso5')),
    box('moov', box('mvhd', full(0, 0, u32(0)))),
  ]);
  const media = Buffer.concat([fragment(1, 360_360n, [3003, 3003, 3003]), box('mdat', Buffer.alloc(10))]);
  const output = Buffer.concat([init, media, box('mfra', Buffer.alloc(4))]);

  test('splits ftyp+moov from moof+mdat and drops the mfra trailer', () => {
    const split = splitInitAndMedia(output);
    expect(split.init.equals(init)).toBe(true);
    expect(split.media.equals(media)).toBe(true);
    expect(types(split.media)).toEqual(['moof', 'mdat']);
  });

  test('reads tfdt, sample count and duration of each fragment', () => {
    const two = Buffer.concat([media, fragment(1, 369_369n, [3003])]);
    expect(readFragments(two)).toEqual([
      { trackId: 1, baseMediaDecodeTime: 360_360, sampleCount: 3, duration: 9009 },
      { trackId: 1, baseMediaDecodeTime: 369_369, sampleCount: 1, duration: 3003 },
    ]);
    expect(types(two, ['moof', 'traf', 'trun'])).toHaveLength(2);
  });

  test('truncated or incomplete outputs are RenderErrors', () => {
    expect(() => splitInitAndMedia(output.subarray(0, output.length - 3))).toThrow(RenderError);
    expect(() => splitInitAndMedia(Buffer.concat([output, Buffer.alloc(5)]))).toThrow(/stray bytes/);
    const lying = Buffer.from(output);
    lying.writeUInt32BE(0xfffffff0, init.length); // the moof claims 4 GiB
    expect(() => splitInitAndMedia(lying)).toThrow(RenderError);
    expect(() => splitInitAndMedia(init)).toThrow(/no media fragment/);
    expect(() => splitInitAndMedia(media)).toThrow(/no moov/);
  });
});
