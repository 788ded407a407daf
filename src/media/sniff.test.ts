import { readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { FIXTURES_DIR, loadManifest } from '../../test/support/fixtures.js';
import { type Demuxer, describeOriginal, NOT_MEDIA, SNIFF_BYTES, sniffDemuxer } from './sniff.js';

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

describe('describeOriginal', () => {
  /** The media type each container of the manifest is served as. */
  const BY_CONTAINER: Record<string, string> = {
    mp4: 'video/mp4',
    mov: 'video/quicktime',
    m4a: 'audio/mp4',
    '3gp': 'video/3gpp',
    webm: 'video/webm',
    mpeg: 'video/mpeg',
    ogg: 'video/ogg',
    hevc: 'video/H265',
    mpegts: 'video/mp2t',
  };
  const fixtures = loadManifest();

  test('every container of the manifest has an expected type here', () => {
    for (const fixture of fixtures) {
      if (fixture.kind === 'hostile') expect(fixture.hostile, fixture.name).toBeDefined();
      else expect(BY_CONTAINER[fixture.container ?? ''], fixture.name).toBeDefined();
    }
  });

  test.each(
    fixtures
      .filter((fixture) => fixture.kind !== 'hostile')
      .map((fixture) => [fixture.name, fixture.container]),
  )('%s (%s) is served with the type of its container', (name, container) => {
    expect(describeOriginal(head(name))).toEqual({ contentType: BY_CONTAINER[container!], media: true });
  });

  test('a truncated mp4 is still an mp4 by its bytes', () => {
    const truncated = fixtures.find((fixture) => fixture.hostile === 'truncated')!;
    expect(describeOriginal(head(truncated.name))).toEqual({ contentType: 'video/mp4', media: true });
  });

  test.each(
    fixtures
      .filter((fixture) => fixture.kind === 'hostile' && fixture.hostile !== 'truncated')
      .map((fixture) => fixture.name),
  )('hostile %s is a download, not media', (name) => {
    expect(describeOriginal(head(name))).toEqual(NOT_MEDIA);
  });

  test('the name and the origin play no part: only the bytes do', () => {
    // An mp4 head whatever it is called, a playlist whatever it is called.
    expect(describeOriginal(head('sample.mp4')).contentType).toBe('video/mp4');
    expect(describeOriginal(Buffer.from('#EXTM3U\n#EXT-X-VERSION:3\n'))).toEqual(NOT_MEDIA);
  });

  test.each([
    ['HTML', '<!doctype html><html><script>alert(1)</script></html>'],
    ['SVG', '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'],
    ['PDF', '%PDF-1.7\n%\u00e2\u00e3\n1 0 obj'],
    ['JSON', '{"error":"x"}'],
    ['JavaScript', 'alert(document.cookie)//'],
  ])('%s is application/octet-stream', (_label, text) => {
    expect(describeOriginal(Buffer.from(text))).toEqual(NOT_MEDIA);
  });

  test('an empty head is not media', () => {
    expect(describeOriginal(Buffer.alloc(0))).toEqual(NOT_MEDIA);
  });

  function box(type: string, payload: Buffer): Buffer {
    const header = Buffer.alloc(8);
    header.writeUInt32BE(8 + payload.length, 0);
    header.write(type, 4, 'latin1');
    return Buffer.concat([header, payload]);
  }
  function ftyp(brand: string): Buffer {
    return box('ftyp', Buffer.from(`${brand}\0\0\0\0isom`, 'latin1'));
  }
  function hdlr(handler: string): Buffer {
    return box('hdlr', Buffer.concat([Buffer.alloc(8), Buffer.from(handler, 'latin1'), Buffer.alloc(12)]));
  }

  test.each([
    ['qt  ', 'video/quicktime'],
    ['3gp5', 'video/3gpp'],
    ['3g2a', 'video/3gpp2'],
    ['M4A ', 'audio/mp4'],
    ['M4B ', 'audio/mp4'],
    ['isom', 'video/mp4'],
    ['mp42', 'video/mp4'],
    ['M4V ', 'video/mp4'],
  ])('ftyp brand %s is %s', (brand, type) => {
    expect(describeOriginal(ftyp(brand)).contentType).toBe(type);
  });

  test('an ISO file without ftyp is classic QuickTime', () => {
    expect(describeOriginal(box('moov', hdlr('vide'))).contentType).toBe('video/quicktime');
  });

  test('a whole moov in the head with sound handlers only is audio; with a picture handler, video', () => {
    const audio = Buffer.concat([ftyp('isom'), box('moov', box('trak', hdlr('soun')))]);
    expect(describeOriginal(audio).contentType).toBe('audio/mp4');
    const both = Buffer.concat([ftyp('isom'), box('moov', Buffer.concat([hdlr('soun'), hdlr('vide')]))]);
    expect(describeOriginal(both).contentType).toBe('video/mp4');
    const gp = Buffer.concat([ftyp('3gp4'), box('moov', hdlr('soun'))]);
    expect(describeOriginal(gp).contentType).toBe('audio/3gpp');
    // A moov running past the head proves nothing: video.
    const cut = Buffer.concat([ftyp('isom'), box('moov', Buffer.concat([hdlr('soun'), Buffer.alloc(64)]))]);
    expect(describeOriginal(cut.subarray(0, cut.length - 10)).contentType).toBe('video/mp4');
  });

  function ebml(docType: string, codecIds: string[]): Buffer {
    const doc = Buffer.concat([Buffer.from([0x42, 0x82, 0x80 | docType.length]), Buffer.from(docType)]);
    const header = Buffer.concat([Buffer.from([0x1a, 0x45, 0xdf, 0xa3, 0x80 | doc.length]), doc]);
    const codecs = codecIds.map((id) =>
      Buffer.concat([Buffer.from([0x86, 0x80 | id.length]), Buffer.from(id)]),
    );
    return Buffer.concat([header, Buffer.alloc(16), ...codecs]);
  }

  test.each([
    ['webm', ['V_VP9', 'A_OPUS'], 'video/webm'],
    ['webm', ['A_OPUS'], 'audio/webm'],
    ['webm', [], 'video/webm'],
    ['matroska', ['V_MPEG4/ISO/AVC', 'A_AAC'], 'video/x-matroska'],
    ['matroska', ['A_FLAC'], 'audio/x-matroska'],
  ])('EBML doctype %s with codecs %j is %s', (docType, codecs, type) => {
    expect(describeOriginal(ebml(docType, codecs))).toEqual({ contentType: type, media: true });
  });

  test('an Ogg stream without a video codec is audio', () => {
    const vorbis = Buffer.concat([
      Buffer.from('OggS\0\x02', 'latin1'),
      Buffer.alloc(22),
      Buffer.from('\x01vorbis', 'latin1'),
    ]);
    expect(describeOriginal(vorbis).contentType).toBe('audio/ogg');
  });

  test('any bytes give media with an audio/video type, or application/octet-stream with media false', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        const { contentType, media } = describeOriginal(Buffer.from(bytes));
        return media
          ? /^(video|audio)\/[\w.+-]+$/.test(contentType)
          : contentType === 'application/octet-stream';
      }),
      { numRuns: 2000 },
    );
  });
});
