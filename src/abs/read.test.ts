import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { mediaInfo } from '../../test/support/media-info.js';
import type { MediaInfo } from '../media/types.js';
import { STREAMING_HEIGHTS } from '../url/params.js';
import {
  type AbsResource,
  AUDIO_TRACK_HEIGHT,
  absResourcePath,
  DASH_MANIFEST_NAME,
  HLS_MASTER_NAME,
  splitAbsPath,
} from './layout.js';
import { dashManifest, hlsMasterPlaylist, hlsMediaPlaylist } from './manifests.js';
import { type AbsPlan, planAbs } from './plan.js';
import { dashReferences, hlsReferences, manifestKind } from './read.js';

/** Where the manifests are served from in these tests: a CDN path with a prefix and a space. */
const SOURCE = 'https://cdn.example.com/v/clips/a%20b.mp4';
/**
 * The query every reference must repeat: `tr`, an expiry and a signature, plus characters each
 * format escapes (`&` in XML, `$` in DASH templates).
 */
const QUERY = 'tr=sr-240_360_720&ik-t=1999999999&ik-s=0123abcd&x=a$b';

function source(options: { duration: number; fps: number; height: number; audio: boolean }): MediaInfo {
  const width = Math.round((options.height * 16) / 9 / 2) * 2;
  return mediaInfo({ ...options, width, audio: options.audio && 44_100 });
}

/** Track heights of a plan in the order the manifests write them (audio, 0, separately). */
function videoHeights(plan: AbsPlan): number[] {
  return plan.renditions.map((rendition) => rendition.height);
}

/** The URL of a per-track resource, built by the layout module and nothing else. */
function urlOf(resource: AbsResource): string {
  return new URL(`${absResourcePath(resource)}?${QUERY}`, `${SOURCE}/`).toString();
}

/** Init then every media segment of one track, as the layout builds them. */
function trackUrls(plan: AbsPlan, height: number): string[] {
  return [
    urlOf({ kind: 'abs-init', height }),
    ...Array.from({ length: plan.segmentCount }, (_, index) => urlOf({ kind: 'abs-segment', height, index })),
  ];
}

/** What HLS lists, read back: the master's playlists, then each playlist's own references. */
function readHls(plan: AbsPlan): { playlists: string[]; segments: Map<string, string[]> } {
  const masterUrl = `${SOURCE}/${HLS_MASTER_NAME}?${QUERY}`;
  const playlists = hlsReferences(hlsMasterPlaylist(plan, QUERY), masterUrl);
  const segments = new Map<string, string[]>();
  for (const playlist of playlists) {
    const parsed = splitAbsPath(new URL(playlist).pathname);
    if (parsed?.resource.kind !== 'hls-media') throw new Error(`${playlist} is not a media playlist`);
    segments.set(playlist, hlsReferences(hlsMediaPlaylist(plan, parsed.resource.height, QUERY), playlist));
  }
  return { playlists, segments };
}

function readDash(plan: AbsPlan): string[] {
  return dashReferences(dashManifest(plan, `?${QUERY}`), `${SOURCE}/${DASH_MANIFEST_NAME}?${QUERY}`);
}

/** Every URL the writers and readers agree on for `plan`, checked exactly. */
function expectRoundTrip(plan: AbsPlan): void {
  const tracks = plan.audio ? [...videoHeights(plan), AUDIO_TRACK_HEIGHT] : videoHeights(plan);

  const hls = readHls(plan);
  // The master lists the audio rendition (EXT-X-MEDIA) before the variants.
  const expectedPlaylists = (
    plan.audio ? [AUDIO_TRACK_HEIGHT, ...videoHeights(plan)] : videoHeights(plan)
  ).map((height) => urlOf({ kind: 'hls-media', height }));
  expect(hls.playlists).toEqual(expectedPlaylists);
  for (const height of tracks)
    expect(hls.segments.get(urlOf({ kind: 'hls-media', height }))).toEqual(trackUrls(plan, height));

  // DASH: representation by representation, video renditions then audio, init first.
  expect(readDash(plan)).toEqual(tracks.flatMap((height) => trackUrls(plan, height)));
}

describe('manifest readers agree with the writers', () => {
  test('HLS and DASH read back exactly the URLs the layout builds, query repeated verbatim', () => {
    const plan = planAbs(
      { sr: [240, 360, 720] },
      source({ duration: 30.5, fps: 30000 / 1001, height: 720, audio: true }),
      4,
    );
    expect(plan.segmentCount).toBeGreaterThan(5);
    expectRoundTrip(plan);
    // Each URL parses back into its resource under the source, with the query intact.
    for (const url of readDash(plan)) {
      const parsed = new URL(url);
      expect(splitAbsPath(parsed.pathname)?.base).toBe(new URL(SOURCE).pathname);
      expect(parsed.search).toBe(`?${QUERY}`);
    }
  });

  test('a source without audio lists video tracks only', () => {
    const plan = planAbs({ sr: [240, 360] }, source({ duration: 9, fps: 25, height: 360, audio: false }), 4);
    expect(plan.audio).toBeUndefined();
    expectRoundTrip(plan);
  });

  test('for any source, ladder and segment length the round trip is exact', () => {
    fc.assert(
      fc.property(
        fc.record({
          duration: fc.double({ min: 0.5, max: 900, noNaN: true }),
          fps: fc.constantFrom(23.976, 24, 25, 29.97, 30, 50, 59.94, 60, 120),
          height: fc.constantFrom(...STREAMING_HEIGHTS),
          audio: fc.boolean(),
          segmentSeconds: fc.constantFrom(1, 2, 4, 6, 10),
          ladder: fc.subarray([...STREAMING_HEIGHTS], { minLength: 1 }),
        }),
        ({ ladder, segmentSeconds, ...info }) => {
          // The ladder is cut to the source height; keep one rung that fits so the plan exists.
          const sr = ladder.some((h) => h <= info.height) ? ladder : [...ladder, info.height];
          expectRoundTrip(planAbs({ sr }, source(info), segmentSeconds));
        },
      ),
      { numRuns: 60 },
    );
  });

  test('HLS and DASH list the same segments for the same plan', () => {
    const plan = planAbs(
      { sr: [360, 720] },
      source({ duration: 17.3, fps: 30, height: 1080, audio: true }),
      4,
    );
    const fromHls = [...readHls(plan).segments.values()].flat();
    expect([...readDash(plan)].sort()).toEqual([...fromHls].sort());
  });
});

describe("manifest readers on other packagers' shapes", () => {
  test('HLS: variant and audio playlists, init maps and segments, relative to the playlist; keys skipped', () => {
    const master = [
      '#EXTM3U',
      '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",URI="audio/index.m3u8?tr=sr-240"',
      '#EXT-X-STREAM-INF:BANDWIDTH=1',
      '240/index.m3u8?tr=sr-240',
      '#EXT-X-KEY:METHOD=AES-128,URI="https://keys.example/k"',
    ].join('\n');
    expect(hlsReferences(master, 'http://h/v/a.mp4/master.m3u8?tr=sr-240')).toEqual([
      'http://h/v/a.mp4/audio/index.m3u8?tr=sr-240',
      'http://h/v/a.mp4/240/index.m3u8?tr=sr-240',
    ]);
    const media =
      '#EXTM3U\n#EXT-X-MAP:URI="init.mp4?x=1"\n#EXTINF:4,\nseg-0.m4s?x=1\r\n#EXTINF:4,\n/abs/seg-1.m4s\n#EXT-X-ENDLIST\n';
    expect(hlsReferences(media, 'http://h/a/index.m3u8?x=1')).toEqual([
      'http://h/a/init.mp4?x=1',
      'http://h/a/seg-0.m4s?x=1',
      'http://h/abs/seg-1.m4s',
    ]);
  });

  test('DASH: SegmentTimeline with repeats, fixed-duration templates, number formats, $$ and entities', () => {
    const mpd = `<?xml version="1.0"?>
<MPD type="static" mediaPresentationDuration="PT10S">
  <Period>
    <AdaptationSet contentType="video">
      <SegmentTemplate timescale="1000" startNumber="0" initialization="v/$RepresentationID$/init.mp4?tr=a&amp;b" media="v/$RepresentationID$/$Number%03d$-$Time$.m4s">
        <SegmentTimeline><S t="0" d="4000" r="1"/><S d="2000"/></SegmentTimeline>
      </SegmentTemplate>
      <Representation id="360" bandwidth="1"/>
    </AdaptationSet>
    <AdaptationSet contentType="audio">
      <Representation id="aud" bandwidth="64000">
        <SegmentTemplate timescale="10" duration="40" startNumber="1" media="a/$Bandwidth$/$$$Number$.m4s"/>
      </Representation>
    </AdaptationSet>
  </Period>
</MPD>`;
    expect(dashReferences(mpd, 'http://h/x/manifest.mpd')).toEqual([
      'http://h/x/v/360/init.mp4?tr=a&b',
      'http://h/x/v/360/000-0.m4s',
      'http://h/x/v/360/001-4000.m4s',
      'http://h/x/v/360/002-8000.m4s',
      'http://h/x/a/64000/$1.m4s',
      'http://h/x/a/64000/$2.m4s',
      'http://h/x/a/64000/$3.m4s',
    ]);
  });

  test('manifests are recognised by content type or extension', () => {
    expect(manifestKind(`http://h/a.mp4/${HLS_MASTER_NAME}?tr=sr-240`, null)).toBe('hls');
    expect(manifestKind('http://h/x', 'application/vnd.apple.mpegurl')).toBe('hls');
    expect(manifestKind(`http://h/a.mp4/${DASH_MANIFEST_NAME}`, undefined)).toBe('dash');
    expect(manifestKind('http://h/x', 'application/dash+xml; charset=utf-8')).toBe('dash');
    expect(manifestKind('http://h/a.mp4', 'video/mp4')).toBeUndefined();
  });
});
