import { readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { FIXTURES_DIR, loadManifest } from '../../test/support/fixtures.js';
import { type Demuxer, SNIFF_BYTES, sniffDemuxer } from './sniff.js';

function head(name: string): Buffer {
  return readFileSync(path.join(FIXTURES_DIR, name)).subarray(0, SNIFF_BYTES);
}

/** Demuxers that read URLs or file names out of their input; none may ever be chosen. */
const FOLLOWS_REFERENCES = [
  'hls',
  'applehttp',
  'concat',
  'ffconcat',
  'image2',
  'tty',
  'data',
  'subfile',
  'dash',
];

const EXPECTED: Record<string, Demuxer> = {
  mp4: 'mov',
  mov: 'mov',
  m4a: 'mov',
  '3gp': 'mov',
  webm: 'matroska',
  mpg: 'mpeg',
  ogg: 'ogg',
  ogv: 'ogg',
  hevc: 'hevc',
  mts: 'mpegts',
};

describe('sniffDemuxer', () => {
  const media = loadManifest().filter((fixture) => fixture.kind !== 'hostile');
  test.each(media.map((fixture) => fixture.name))('%s gets the demuxer of its container', (name) => {
    expect(sniffDemuxer(head(name))).toBe(EXPECTED[path.extname(name).slice(1)]);
  });

  const hostile = loadManifest().filter(
    (fixture) => fixture.kind === 'hostile' && fixture.hostile !== 'truncated',
  );
  test.each(hostile.map((fixture) => fixture.name))('hostile %s gets no demuxer at all', (name) => {
    expect(sniffDemuxer(head(name))).toBeUndefined();
  });

  test.each([
    ['HLS playlist', '#EXTM3U\n#EXTINF:10,\nhttp://127.0.0.1:1/x.ts\n'],
    ['ffconcat script', "ffconcat version 1.0\nfile 'http://127.0.0.1:1/x.mp4'\n"],
    ['DASH manifest', '<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011"></MPD>'],
    ['SDP file', 'v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\nm=video 5004 RTP/AVP 96\r\n'],
    ['HTML page', '<!doctype html><html><body>404</body></html>'],
  ])('a %s is refused', (_label, text) => {
    expect(sniffDemuxer(Buffer.from(text))).toBeUndefined();
  });

  test('an mp4 box header in front of a playlist still only ever selects the mov demuxer', () => {
    const disguised = Buffer.concat([
      Buffer.from([0, 0, 0, 8]),
      Buffer.from('free#EXTM3U\nfile:///etc/passwd\n'),
    ]);
    expect(sniffDemuxer(disguised)).toBe('mov');
  });

  test('fewer than 8 bytes are never a container', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 7 }), (bytes) => sniffDemuxer(Buffer.from(bytes)) === undefined),
    );
  });

  test('any bytes give an allowlisted demuxer or nothing, never one that follows references', () => {
    const allowed = new Set<Demuxer>([
      'mov',
      'matroska',
      'mpeg',
      'mpegts',
      'ogg',
      'avi',
      'hevc',
      'h264',
      'flv',
      'mp3',
      'wav',
    ]);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        const demuxer = sniffDemuxer(Buffer.from(bytes));
        return demuxer === undefined || (allowed.has(demuxer) && !FOLLOWS_REFERENCES.includes(demuxer));
      }),
      { numRuns: 2000 },
    );
  });
});
