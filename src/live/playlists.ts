import { AUDIO_BIT_RATE, AUDIO_VARIANT, type LiveRung } from './ladder.js';

/**
 * Pure: the documents viewers get (HLS master and media playlists with low-latency parts, the
 * DASH manifest), written from the segments and parts the stream has cut from the transcoder's
 * output. They carry what ffmpeg cannot know (the wall-clock arrival of each segment's first
 * frame), keep the sliding window, use the proxy's own URLs, and end with `#EXT-X-ENDLIST` / a
 * static MPD.
 */

/** A part (one CMAF chunk) of a segment. */
export interface LivePart {
  /** Seconds. */
  duration: number;
  /** Starts with a sync sample. */
  independent: boolean;
  bytes: Buffer;
}

/** A segment: complete, or the one still growing (then its duration is that of its parts so far). */
export interface LiveSegment {
  /** Media sequence number. */
  seq: number;
  /** Seconds. */
  duration: number;
  /** Media time of its first frame, seconds. */
  start: number;
  /** Wall-clock arrival of its first frame from the publisher, ms since the epoch. */
  arrivedAt: number;
  parts: LivePart[];
  /** The whole segment once complete (its parts are then views of these bytes). */
  bytes?: Buffer;
}

/** One variant as the served documents see it. */
export interface VariantView {
  name: string;
  /** Complete segments, oldest first. */
  segments: readonly LiveSegment[];
  /** The segment being cut now (live only). */
  open?: LiveSegment;
  /** `avc1.64001f` / `mp4a.40.2`, read from the init segment. */
  codecs: string | undefined;
}

/** The whole stream as the served documents see it. */
export interface StreamView {
  rungs: readonly LiveRung[];
  video: readonly VariantView[];
  audio: VariantView | undefined;
  segmentSeconds: number;
  /** Longest part, seconds (`PART-TARGET`). */
  partTarget: number;
  /** Segments listed in each live playlist. */
  window: number;
  ended: boolean;
  /** Wall-clock time of media time 0 (ms since the epoch), for the MPD. */
  startedAt: number;
  now: number;
}

/** The segments a live playlist lists: the newest `window`, or all kept once ended. */
export function windowOf(segments: readonly LiveSegment[], window: number): LiveSegment[] {
  return segments.slice(-window);
}

/**
 * The HLS master playlist: one variant per rung, audio as a rendition group. URIs start with
 * `prefix` (the run's folder, such as `k3x9/`).
 */
export function liveMasterPlaylist(view: StreamView, prefix = ''): string {
  const lines = ['#EXTM3U', '#EXT-X-VERSION:7', '#EXT-X-INDEPENDENT-SEGMENTS'];
  if (view.audio) {
    lines.push(
      `#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="Audio",LANGUAGE="und",DEFAULT=YES,AUTOSELECT=YES,CHANNELS="2",URI="${prefix}${AUDIO_VARIANT}/index.m3u8"`,
    );
  }
  for (const variant of view.video) {
    const rung = view.rungs.find((r) => r.name === variant.name);
    if (!rung) continue;
    const bandwidth = Math.round(rung.bitRate * 1.2) + (view.audio ? AUDIO_BIT_RATE : 0);
    const attributes = [`BANDWIDTH=${bandwidth}`];
    if (rung.width) attributes.push(`RESOLUTION=${rung.width}x${rung.height}`);
    const codecs = [variant.codecs, view.audio?.codecs].filter(Boolean);
    if (variant.codecs && (!view.audio || view.audio.codecs)) attributes.push(`CODECS="${codecs.join(',')}"`);
    if (view.audio) attributes.push('AUDIO="audio"');
    lines.push(`#EXT-X-STREAM-INF:${attributes.join(',')}`, `${prefix}${variant.name}/index.m3u8`);
  }
  return `${lines.join('\n')}\n`;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/**
 * The part that comes after the open segment's last: the next of the same segment, or the first
 * of the next segment when this one is as long as a segment already (keyframes are forced there).
 */
export function nextPartName(
  open: LiveSegment,
  view: Pick<StreamView, 'segmentSeconds' | 'partTarget'>,
): string {
  const full = open.duration + view.partTarget / 2 >= view.segmentSeconds;
  return full ? `${open.seq + 1}.0.m4s` : `${open.seq}.${open.parts.length}.m4s`;
}

/** Complete segments whose parts are still listed (the spec asks for those within 3 target durations). */
const SEGMENTS_WITH_PARTS = 3;

/**
 * One variant's low-latency media playlist: the sliding window of complete segments, each with
 * its `EXT-X-PROGRAM-DATE-TIME`, the parts of the newest ones and of the segment being cut, a
 * preload hint for the next part, and `#EXT-X-ENDLIST` once the stream has ended.
 */
export function liveMediaPlaylist(
  variant: Pick<VariantView, 'segments' | 'open'>,
  view: Pick<StreamView, 'segmentSeconds' | 'partTarget' | 'window' | 'ended'>,
): string {
  const listed = windowOf(variant.segments, view.window);
  const open = view.ended ? undefined : variant.open;
  const target = Math.max(view.segmentSeconds, ...listed.map((s) => Math.round(s.duration)));
  const lines = [
    '#EXTM3U',
    '#EXT-X-VERSION:9',
    `#EXT-X-TARGETDURATION:${target}`,
    `#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=${(view.partTarget * 3).toFixed(3)}`,
    `#EXT-X-PART-INF:PART-TARGET=${view.partTarget.toFixed(3)}`,
    `#EXT-X-MEDIA-SEQUENCE:${listed[0]?.seq ?? open?.seq ?? 0}`,
    '#EXT-X-INDEPENDENT-SEGMENTS',
    '#EXT-X-MAP:URI="init.mp4"',
  ];
  const parts = (segment: LiveSegment) =>
    segment.parts.map(
      (part, i) =>
        `#EXT-X-PART:DURATION=${part.duration.toFixed(5)},URI="${segment.seq}.${i}.m4s"${part.independent ? ',INDEPENDENT=YES' : ''}`,
    );
  listed.forEach((segment, i) => {
    lines.push(`#EXT-X-PROGRAM-DATE-TIME:${iso(segment.arrivedAt)}`);
    if (!view.ended && i >= listed.length - SEGMENTS_WITH_PARTS) lines.push(...parts(segment));
    lines.push(`#EXTINF:${segment.duration.toFixed(6)},`, `${segment.seq}.m4s`);
  });
  if (open) {
    if (open.parts.length > 0) lines.push(`#EXT-X-PROGRAM-DATE-TIME:${iso(open.arrivedAt)}`, ...parts(open));
    lines.push(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="${nextPartName(open, view)}"`);
  }
  if (view.ended) lines.push('#EXT-X-ENDLIST');
  return `${lines.join('\n')}\n`;
}

/** `PT12.345S` */
function isoDuration(seconds: number): string {
  return `PT${Math.max(0, seconds).toFixed(3)}S`;
}

function timeline(segments: readonly LiveSegment[], indent: string, prefix: string): string {
  const first = segments[0];
  const rows = segments.map((s, i) =>
    i === 0
      ? `<S t="${Math.round(s.start * 1000)}" d="${Math.round(s.duration * 1000)}"/>`
      : `<S d="${Math.round(s.duration * 1000)}"/>`,
  );
  return [
    `${indent}<SegmentTemplate timescale="1000" initialization="${prefix}$RepresentationID$/init.mp4" media="${prefix}$RepresentationID$/$Number$.m4s" startNumber="${first?.seq ?? 0}" presentationTimeOffset="0">`,
    `${indent}  <SegmentTimeline>${rows.join('')}</SegmentTimeline>`,
    `${indent}</SegmentTemplate>`,
  ].join('\n');
}

/**
 * The DASH manifest over the same CMAF segments: `dynamic` with the sliding window while live,
 * `static` once the stream has ended. Its clock is the arrival time of media time 0. Segment
 * URLs start with `prefix`.
 */
export function liveDashManifest(view: StreamView, prefix = ''): string {
  const lead = view.video[0];
  const videoSegments = windowOf(lead?.segments ?? [], view.window);
  const audioSegments = view.audio ? windowOf(view.audio.segments, view.window) : [];
  const seg = view.segmentSeconds;
  const head = view.ended
    ? (() => {
        const last = videoSegments.at(-1);
        const end = last ? last.start + last.duration : 0;
        return `type="static" mediaPresentationDuration="${isoDuration(end)}"`;
      })()
    : [
        'type="dynamic"',
        `availabilityStartTime="${iso(view.startedAt)}"`,
        `publishTime="${iso(view.now)}"`,
        `minimumUpdatePeriod="${isoDuration(seg / 2)}"`,
        `timeShiftBufferDepth="${isoDuration(seg * view.window)}"`,
        `suggestedPresentationDelay="${isoDuration(seg * 2)}"`,
      ].join(' ');
  const out = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011" ${head} maxSegmentDuration="${isoDuration(seg * 1.5)}" minBufferTime="${isoDuration(seg)}">`,
    '  <Period id="0" start="PT0S">',
    '    <AdaptationSet id="0" contentType="video" mimeType="video/mp4" segmentAlignment="true" startWithSAP="1">',
    timeline(videoSegments, '      ', prefix),
  ];
  for (const variant of view.video) {
    const rung = view.rungs.find((r) => r.name === variant.name);
    if (!rung) continue;
    const size = rung.width ? ` width="${rung.width}" height="${rung.height}"` : ` height="${rung.height}"`;
    out.push(
      `      <Representation id="${variant.name}" codecs="${variant.codecs ?? 'avc1.640028'}" bandwidth="${Math.round(rung.bitRate * 1.2)}"${size} sar="1:1"/>`,
    );
  }
  out.push('    </AdaptationSet>');
  if (view.audio) {
    out.push(
      '    <AdaptationSet id="1" contentType="audio" mimeType="audio/mp4" lang="und" segmentAlignment="true" startWithSAP="1">',
      timeline(audioSegments, '      ', prefix),
      `      <Representation id="${AUDIO_VARIANT}" codecs="${view.audio.codecs ?? 'mp4a.40.2'}" bandwidth="${AUDIO_BIT_RATE}" audioSamplingRate="48000"/>`,
      '    </AdaptationSet>',
    );
  }
  out.push('  </Period>');
  // The server's clock in the manifest itself: players need no time server (none is reachable
  // from many networks) and line up with the program date times above.
  if (!view.ended)
    out.push(`  <UTCTiming schemeIdUri="urn:mpeg:dash:utc:direct:2014" value="${iso(view.now)}"/>`);
  out.push('</MPD>');
  return `${out.join('\n')}\n`;
}

/** The RFC 6381 codec string of an fMP4 init segment's first track (`avc1.PPCCLL`, `mp4a.40.2`). */
export function codecOfInit(init: Buffer): string | undefined {
  const avcc = init.indexOf('avcC');
  if (avcc >= 0 && avcc + 8 <= init.length) {
    const hex = (b: number) => b.toString(16).padStart(2, '0');
    return `avc1.${hex(init[avcc + 5]!)}${hex(init[avcc + 6]!)}${hex(init[avcc + 7]!)}`;
  }
  if (init.indexOf('mp4a') >= 0) return 'mp4a.40.2';
  return undefined;
}
