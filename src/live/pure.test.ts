import { describe, expect, test } from 'vitest';
import { decodeAmf0, encodeAmf0 } from './amf0.js';
import { loadLiveConfig } from './config.js';
import { flvTag } from './flv.js';
import { parseStreamKeys, signStreamKey, streamForKey } from './keys.js';
import { liveRungs, liveTranscodeArgs, parseLiveSr } from './ladder.js';
import {
  type LiveSegment,
  liveDashManifest,
  liveMasterPlaylist,
  liveMediaPlaylist,
  type StreamView,
} from './playlists.js';
import { recordingPath } from './recording.js';

describe('amf0', () => {
  test('round-trips what publishers send and we answer', () => {
    const values = [
      'connect',
      1,
      { app: 'live', tcUrl: 'rtmp://h/live', n: null, list: [1, 'a', true] },
      undefined,
      false,
    ];
    expect(decodeAmf0(encodeAmf0(...values))).toEqual(values);
  });
  test('refuses truncated values, unknown types and __proto__ tricks', () => {
    const encoded = encodeAmf0('publish', 5);
    expect(() => decodeAmf0(encoded.subarray(0, encoded.length - 2))).toThrow(/runs past/);
    expect(() => decodeAmf0(Buffer.from([0x11]))).toThrow(/not supported/);
    const proto = decodeAmf0(encodeAmf0(JSON.parse('{"__proto__": {"polluted": 1}}')))[0] as object;
    expect(Object.getPrototypeOf(proto)).toBe(Object.prototype);
    expect(({} as { polluted?: number }).polluted).toBeUndefined();
  });
  test('nesting is bounded', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 20; i++) deep = [deep];
    expect(() => decodeAmf0(encodeAmf0(deep as never))).toThrow(/nests too deeply/);
  });
});

describe('stream keys', () => {
  test('parse name=key lists and never echo a key in an error', () => {
    expect([...parseStreamKeys('launch=abcdefgh1, demo=zzzzzzzz2')]).toEqual([
      ['abcdefgh1', 'launch'],
      ['zzzzzzzz2', 'demo'],
    ]);
    expect(() => parseStreamKeys('bad name=secret-key-1')).toThrow(/^entry 1 /);
    expect(() => parseStreamKeys('a=short')).toThrow(/at least 8/);
    expect(() => parseStreamKeys('a=samekey12,b=samekey12')).toThrow(/share/);
    for (const raw of ['bad name=secret-key-1', 'a=short', 'a=samekey12,b=samekey12']) {
      try {
        parseStreamKeys(raw);
      } catch (error) {
        expect((error as Error).message).not.toMatch(/secret|short|samekey/);
      }
    }
  });
  test('listed and signed keys open their stream; expired, forged and rotated-out ones do not', () => {
    const listed = parseStreamKeys('demo=listed-key-1');
    expect(streamForKey('listed-key-1', listed, [])).toBe('demo');
    expect(streamForKey('listed-key-2', listed, [])).toBeUndefined();
    const now = 1_800_000_000;
    const signed = signStreamKey('show', now + 60, 'old-secret');
    expect(streamForKey(signed, listed, ['new-secret', 'old-secret'], now)).toBe('show');
    expect(streamForKey(signed, listed, ['new-secret'], now)).toBeUndefined();
    expect(streamForKey(signed, listed, ['old-secret'], now + 61)).toBeUndefined();
    expect(streamForKey(signed.replace('show', 'shoe'), listed, ['old-secret'], now)).toBeUndefined();
  });
});

describe('ladder', () => {
  test('LIVE_SR parses, sorts and refuses nonsense', () => {
    expect(parseLiveSr('720_240_360')).toEqual([240, 360, 720]);
    expect(() => parseLiveSr('241')).toThrow(/even/);
    expect(() => parseLiveSr('abc')).toThrow();
  });
  test('rungs above the input are left out; a small input gets its own height', () => {
    expect(
      liveRungs([240, 360, 720], { width: 640, height: 360 }).map((r) => `${r.width}x${r.height}`),
    ).toEqual(['426x240', '640x360']);
    expect(liveRungs([240, 360], { width: 256, height: 144 }).map((r) => r.height)).toEqual([144]);
    expect(liveRungs([240, 360], {}).map((r) => r.height)).toEqual([240]);
  });
  test('argv: one split, one fragmented output per rung and for audio', () => {
    const args = liveTranscodeArgs({
      rungs: liveRungs([240, 360], { width: 1280, height: 720 }),
      hasAudio: true,
      segmentSeconds: 2,
      partSeconds: 0.5,
      outDir: '/w',
    });
    expect(args.join(' ')).toContain('split=3[s0][s1][st]');
    // One fragmented MP4 per rendition on pipes 3, 4 and the audio on 5; parts of 0.5 s.
    expect(args.filter((a) => /^pipe:[3-9]$/.test(a))).toEqual(['pipe:3', 'pipe:4', 'pipe:5']);
    expect(args.filter((a) => a === '-frag_duration')).toHaveLength(3);
    expect(args[args.indexOf('-frag_duration') + 1]).toBe('500000');
    expect(args[args.indexOf('-i') + 1]).toBe('pipe:0');
  });
  test('recording names sit under the prefix', () => {
    expect(recordingPath('/v/recordings/', 'demo', Date.UTC(2026, 11, 2, 7, 0, 5))).toBe(
      'v/recordings/demo-20261202T070005Z.mp4',
    );
  });
  test('flv tags carry the extended timestamp byte', () => {
    const tag = flvTag(9, 0x1234_5678, Buffer.from([1, 2]));
    expect(tag.readUIntBE(4, 3)).toBe(0x34_5678);
    expect(tag[7]).toBe(0x12);
    expect(tag.readUInt32BE(tag.length - 4)).toBe(13);
  });
});

describe('playlists', () => {
  const segments: LiveSegment[] = Array.from({ length: 9 }, (_, i) => ({
    seq: i,
    duration: 2,
    start: i * 2,
    arrivedAt: Date.UTC(2026, 0, 1) + i * 2000,
    parts: [0, 1, 2, 3].map((p) => ({ duration: 0.5, independent: p === 0, bytes: Buffer.from([i, p]) })),
  }));
  const open: LiveSegment = {
    seq: 9,
    duration: 1,
    start: 18,
    arrivedAt: Date.UTC(2026, 0, 1) + 18_000,
    parts: [0, 1].map((p) => ({ duration: 0.5, independent: p === 0, bytes: Buffer.from([9, p]) })),
  };
  const view = (ended: boolean): StreamView => ({
    rungs: liveRungs([240, 360], { width: 640, height: 360 }),
    video: [
      { name: '240p', segments, codecs: 'avc1.640015' },
      { name: '360p', segments, codecs: 'avc1.64001e' },
    ],
    audio: { name: 'audio', segments, codecs: 'mp4a.40.2' },
    segmentSeconds: 2,
    partTarget: 0.55,
    window: 6,
    ended,
    startedAt: Date.UTC(2026, 0, 1),
    now: Date.UTC(2026, 0, 1) + 20_000,
  });

  test('a media playlist slides, stamps arrival times, lists parts near the edge and ends', () => {
    const text = liveMediaPlaylist({ segments, open }, view(false));
    expect(text).toContain('#EXT-X-MEDIA-SEQUENCE:3');
    expect(text).toContain('#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.650');
    expect(text).toContain('#EXT-X-PART-INF:PART-TARGET=0.550');
    expect(text.match(/#EXTINF/g)).toHaveLength(6);
    expect(text).toContain('#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:06.000Z\n#EXTINF:2.000000,\n3.m4s');
    // Parts of the three newest complete segments and of the open one, then the next part's hint.
    expect(text.match(/#EXT-X-PART:/g)).toHaveLength(3 * 4 + 2);
    expect(text).toContain(
      '#EXT-X-PART:DURATION=0.50000,URI="6.0.m4s",INDEPENDENT=YES\n#EXT-X-PART:DURATION=0.50000,URI="6.1.m4s"\n',
    );
    expect(text).toMatch(/URI="9\.1\.m4s"\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI="9\.2\.m4s"\n$/);
    const ended = liveMediaPlaylist({ segments, open }, view(true));
    expect(ended).toMatch(/#EXT-X-ENDLIST\n$/);
    expect(ended).not.toContain('#EXT-X-PART:');
    expect(ended).not.toContain('PRELOAD-HINT');
  });
  test('the master lists each rung with its codecs and the audio group, under the run folder', () => {
    const text = liveMasterPlaylist(view(false), 'run1/');
    expect(text).toContain('URI="run1/audio/index.m3u8"');
    expect(text).toContain(
      'RESOLUTION=640x360,CODECS="avc1.64001e,mp4a.40.2",AUDIO="audio"\nrun1/360p/index.m3u8',
    );
  });
  test('the MPD is dynamic with the server clock while live and static once ended', () => {
    const live = liveDashManifest(view(false), 'run1/');
    expect(live).toContain('type="dynamic"');
    expect(live).toContain('startNumber="3"');
    expect(live).toContain('<S t="6000" d="2000"/>');
    expect(live).toContain('urn:mpeg:dash:utc:direct:2014');
    expect(live).toContain('media="run1/$RepresentationID$/$Number$.m4s"');
    const ended = liveDashManifest(view(true));
    expect(ended).toContain('type="static"');
    expect(ended).not.toContain('UTCTiming');
  });
});

describe('config', () => {
  const integer = (min: number, max: number) => (raw: string) => {
    const value = Number(raw);
    if (!/^\d+$/.test(raw) || value < min || value > max) throw new Error(`expected ${min} to ${max}`);
    return value;
  };
  const context = { seconds: (raw: string) => Number(raw), integer, originKind: 'fs', hasSigningKey: false };
  test('off without RTMP_PORT; every problem reported at once', () => {
    expect(loadLiveConfig({}, context)).toEqual({ config: undefined, problems: [] });
    const { problems } = loadLiveConfig(
      { RTMP_PORT: '1935', LIVE_SR: 'x', MAX_LIVE_STREAMS: '0', LIVE_RECORD_PREFIX: '../up' },
      context,
    );
    expect(problems.map((p) => p.split(/[=:]/)[0])).toEqual([
      'MAX_LIVE_STREAMS',
      'LIVE_SR',
      'LIVE_RECORD_PREFIX',
      'RTMP_PORT is set but LIVE_STREAM_KEYS is empty and SIGNING_KEY is unset',
    ]);
    expect(
      loadLiveConfig(
        { RTMP_PORT: '1935', LIVE_STREAM_KEYS: 'a=abcdefgh1' },
        { ...context, originKind: 'http' },
      ).problems[0],
    ).toMatch(/cannot store recordings/);
  });
  test('defaults', () => {
    const { config } = loadLiveConfig({ RTMP_PORT: '1935', LIVE_STREAM_KEYS: 'a=abcdefgh1' }, context);
    expect(config).toMatchObject({
      rtmpPort: 1935,
      maxStreams: 1,
      heights: [240, 360, 720],
      graceMs: 10_000,
      recordPrefix: 'recordings',
      segmentSeconds: 2,
      handshakeTimeoutMs: 10_000,
    });
  });
});
