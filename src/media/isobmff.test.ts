import { readFile } from 'node:fs/promises';
import { describe, expect, test } from 'vitest';
import { probeMediaInfo } from '../../test/support/ffprobe.js';
import { fixturePath, loadManifest } from '../../test/support/fixtures.js';
import { locateMoov, parseMoov } from './isobmff.js';
import { sniffDemuxer } from './sniff.js';

async function moovOf(file: Buffer): Promise<Buffer | undefined> {
  let found = locateMoov(file.subarray(0, 4096), 0, file.length);
  for (let hops = 0; found && 'next' in found && hops < 16; hops++) {
    found = locateMoov(file.subarray(found.next, found.next + 4096), found.next, file.length);
  }
  if (!found || !('moov' in found)) return undefined;
  return file.subarray(found.moov.offset, found.moov.offset + found.moov.size);
}

const movFixtures = loadManifest().filter(
  (entry) => entry.kind !== 'hostile' && entry.name !== 'raw.hevc' && /\.(mp4|mov|3gp|m4a)$/.test(entry.name),
);

describe('reading the MP4/MOV index without ffprobe', () => {
  test.each(movFixtures.map((entry) => entry.name))('%s agrees with ffprobe', async (name) => {
    const file = await readFile(fixturePath(name));
    expect(sniffDemuxer(file.subarray(0, 4096))).toBe('mov');
    const moov = await moovOf(file);
    expect(moov, 'moov found').toBeDefined();
    const ours = parseMoov(moov!, file.length);
    expect(ours, 'parsed').toBeDefined();
    const theirs = await probeMediaInfo(fixturePath(name));
    expect(ours!.duration).toBeCloseTo(theirs.duration, 1);
    expect(ours!.streamCount).toBe(theirs.streamCount);
    expect(Boolean(ours!.video)).toBe(Boolean(theirs.video));
    expect(Boolean(ours!.audio)).toBe(Boolean(theirs.audio));
    if (theirs.video) {
      const mine = ours!.video!;
      expect([mine.width, mine.height, mine.rotation]).toEqual([
        theirs.video.width,
        theirs.video.height,
        theirs.video.rotation,
      ]);
      expect([mine.codedWidth, mine.codedHeight]).toEqual([
        theirs.video.codedWidth,
        theirs.video.codedHeight,
      ]);
      expect(mine.codec).toBe(theirs.video.codec);
      // A variable frame rate has no single right answer; both are averages within a few percent.
      const tolerance = loadManifest()
        .find((e) => e.name === name)
        ?.traits.includes('vfr')
        ? 0.05
        : 0.01;
      expect(Math.abs(mine.frameRate - theirs.video.frameRate) / theirs.video.frameRate).toBeLessThan(
        tolerance,
      );
    }
    if (theirs.audio) {
      const mine = ours!.audio!;
      expect([mine.codec, mine.sampleRate, mine.channels]).toEqual([
        theirs.audio.codec,
        theirs.audio.sampleRate,
        theirs.audio.channels,
      ]);
    }
  });

  test('a truncated file, a fragmented index and garbage are left to ffprobe', async () => {
    const sample = await readFile(fixturePath('sample.mp4'));
    const moov = (await moovOf(sample))!;
    expect(parseMoov(moov, Math.floor(sample.length / 4))).toBeUndefined();
    expect(parseMoov(Buffer.from('not a box at all'), 100)).toBeUndefined();
    expect(parseMoov(moov.subarray(0, 200), sample.length)).toBeUndefined();
    const fragmented = Buffer.concat([
      moov.subarray(0, 8),
      Buffer.from([0, 0, 0, 8, 0x6d, 0x76, 0x65, 0x78]),
      moov.subarray(8),
    ]);
    fragmented.writeUInt32BE(moov.length + 8, 0);
    expect(parseMoov(fragmented, sample.length)).toBeUndefined();
  });

  test('locateMoov follows top-level boxes, and gives up on a layout that is not a box sequence', async () => {
    const atEnd = await readFile(fixturePath('moov-at-end.mp4'));
    const first = locateMoov(atEnd.subarray(0, 4096), 0, atEnd.length);
    expect(first && 'next' in first).toBe(true);
    expect(locateMoov(Buffer.from('#EXTM3U\n#EXT-X-VERSION:3\n'), 0, 100)).toBeUndefined();
  });
});
