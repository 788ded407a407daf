import type { CaptionTrack } from '../captions/names.js';
import { trackName } from '../captions/names.js';
import { ABS_FOLDER, absFileName, absResourcePath, trackPathName } from './layout.js';
import {
  type AbsPlan,
  AUDIO_TRACK_HEIGHT,
  type FrameRate,
  presentationSeconds,
  renditionOf,
  segmentWindow,
} from './plan.js';

/**
 * The text documents of an adaptive stream (HLS master and media playlists, the DASH manifest),
 * written from the plan alone. Every URL in them is built by `layout.ts`.
 */

/** DASH templates that expand to the same paths `absResourcePath` builds (id = track name). */
const DASH_INIT_TEMPLATE = `${ABS_FOLDER}/$RepresentationID$/init.mp4`;
const DASH_MEDIA_TEMPLATE = `${ABS_FOLDER}/$RepresentationID$/seg-$Number$.m4s`;

/** Segment durations in ticks of the track, in order. */
function trackDurations(plan: AbsPlan, height: number): { timescale: number; durations: number[] } {
  const durations: number[] = [];
  let timescale = 1;
  for (let i = 0; i < plan.segmentCount; i++) {
    const w = segmentWindow(plan, height, i);
    timescale = w.timescale;
    durations.push(w.durationTicks);
  }
  return { timescale, durations };
}

function withQuery(path: string, query: string): string {
  const q = query.startsWith('?') ? query.slice(1) : query;
  return q ? `${path}?${q}` : path;
}

function frameRateText(rate: FrameRate): string {
  return (rate.num / rate.den).toFixed(3);
}

/**
 * HLS master playlist. URIs are relative to the master's URL and carry `query` (the master's
 * query string, with or without a leading `?`) so `tr` and signatures reach every request.
 */
export function hlsMasterPlaylist(
  plan: AbsPlan,
  query: string,
  captions: readonly CaptionTrack[] = [],
): string {
  const lines = ['#EXTM3U', '#EXT-X-VERSION:7', '#EXT-X-INDEPENDENT-SEGMENTS'];
  // Caption files beside the source: one SUBTITLES rendition each, the first the default.
  captions.forEach((track, index) => {
    const uri = withQuery(absResourcePath({ kind: 'caption-playlist', lang: track.lang }), query);
    const flags = index === 0 ? 'DEFAULT=YES,AUTOSELECT=YES' : 'DEFAULT=NO,AUTOSELECT=YES';
    lines.push(
      `#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="${quotable(trackName(track.lang))}",LANGUAGE="${track.lang}",${flags},FORCED=NO,URI="${uri}"`,
    );
  });
  const audio = plan.audio;
  if (audio) {
    lines.push(
      `#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="Audio",LANGUAGE="und",DEFAULT=YES,AUTOSELECT=YES,CHANNELS="${audio.channels}",URI="${withQuery(absResourcePath({ kind: 'hls-media', height: AUDIO_TRACK_HEIGHT }), query)}"`,
    );
  }
  for (const r of plan.renditions) {
    const codecs = audio ? `${r.codecs},${audio.codecs}` : r.codecs;
    const attributes = [
      `BANDWIDTH=${r.bandwidth}`,
      `AVERAGE-BANDWIDTH=${r.averageBandwidth}`,
      `RESOLUTION=${r.width}x${r.height}`,
      `CODECS="${codecs}"`,
      `FRAME-RATE=${frameRateText(plan.video.frameRate)}`,
    ];
    if (audio) attributes.push('AUDIO="audio"');
    if (captions.length) attributes.push('SUBTITLES="subs"');
    lines.push(
      `#EXT-X-STREAM-INF:${attributes.join(',')}`,
      withQuery(absResourcePath({ kind: 'hls-media', height: r.height }), query),
    );
  }
  return `${lines.join('\n')}\n`;
}

/**
 * HLS media playlist of one track (`height`, 0 = audio): the full VOD list. URIs are relative to
 * the playlist's own URL (`ik-abs/<track>/index.m3u8`).
 */
export function hlsMediaPlaylist(plan: AbsPlan, height: number, query: string): string {
  if (height !== AUDIO_TRACK_HEIGHT) renditionOf(plan, height);
  const { timescale, durations } = trackDurations(plan, height);
  const seconds = durations.map((d) => d / timescale);
  const lines = [
    '#EXTM3U',
    '#EXT-X-VERSION:7',
    `#EXT-X-TARGETDURATION:${Math.ceil(Math.max(...seconds) - 1e-9)}`,
    '#EXT-X-MEDIA-SEQUENCE:0',
    '#EXT-X-PLAYLIST-TYPE:VOD',
    '#EXT-X-INDEPENDENT-SEGMENTS',
    `#EXT-X-MAP:URI="${withQuery(absFileName({ kind: 'abs-init', height }), query)}"`,
  ];
  seconds.forEach((s, i) => {
    lines.push(
      `#EXTINF:${s.toFixed(6)},`,
      withQuery(absFileName({ kind: 'abs-segment', height, index: i }), query),
    );
  });
  lines.push('#EXT-X-ENDLIST');
  return `${lines.join('\n')}\n`;
}

/** A value safe inside an HLS quoted string (no `"`, no line break). */
function quotable(text: string): string {
  return text.replace(/["\r\n]/g, '');
}

function xmlEscape(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/** ISO 8601 duration with millisecond precision. */
function isoDuration(seconds: number): string {
  return `PT${(Math.round(seconds * 1000) / 1000).toFixed(3)}S`;
}

/** `<SegmentTimeline>` with runs of equal durations folded into `r`. */
function segmentTimeline(durations: number[], indent: string): string {
  const entries: string[] = [];
  let i = 0;
  while (i < durations.length) {
    let repeat = 0;
    while (i + repeat + 1 < durations.length && durations[i + repeat + 1] === durations[i]) repeat++;
    const t = i === 0 ? ' t="0"' : '';
    entries.push(`${indent}  <S${t} d="${durations[i]}"${repeat > 0 ? ` r="${repeat}"` : ''}/>`);
    i += repeat + 1;
  }
  return `${indent}<SegmentTimeline>\n${entries.join('\n')}\n${indent}</SegmentTimeline>`;
}

function segmentTemplate(timescale: number, durations: number[], query: string, indent: string): string {
  // `$` starts a DASH template identifier; a literal one is written `$$`.
  const q = xmlEscape(withQuery('', query).replace(/\$/g, '$$$$'));
  return [
    `${indent}<SegmentTemplate timescale="${timescale}" startNumber="0" initialization="${DASH_INIT_TEMPLATE}${q}" media="${DASH_MEDIA_TEMPLATE}${q}">`,
    segmentTimeline(durations, `${indent}  `),
    `${indent}</SegmentTemplate>`,
  ].join('\n');
}

/**
 * Static DASH manifest: one Period, a video AdaptationSet with one Representation per rendition
 * (id = height, so `$RepresentationID$` builds the same URLs as HLS) and an audio AdaptationSet
 * (id `audio`). The SegmentTimeline lists the exact durations the encoder produces.
 */
export function dashManifest(plan: AbsPlan, query: string, captions: readonly CaptionTrack[] = []): string {
  const v = plan.video;
  const rate = v.frameRate.den === 1 ? String(v.frameRate.num) : `${v.frameRate.num}/${v.frameRate.den}`;
  const top = plan.renditions[plan.renditions.length - 1]!;
  const video = trackDurations(plan, plan.renditions[0]!.height);
  const out = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011" type="static" mediaPresentationDuration="${isoDuration(presentationSeconds(plan))}" minBufferTime="${isoDuration(plan.segmentSeconds)}">`,
    '  <Period id="0" start="PT0S">',
    `    <AdaptationSet id="0" contentType="video" mimeType="video/mp4" segmentAlignment="true" startWithSAP="1" maxWidth="${top.width}" maxHeight="${top.height}" frameRate="${rate}" par="${top.width}:${top.height}">`,
    segmentTemplate(v.timescale, video.durations, query, '      '),
    ...plan.renditions.map(
      (r) =>
        `      <Representation id="${trackPathName(r.height)}" codecs="${r.codecs}" bandwidth="${r.bandwidth}" width="${r.width}" height="${r.height}" frameRate="${rate}" sar="1:1"/>`,
    ),
    '    </AdaptationSet>',
  ];
  const audio = plan.audio;
  if (audio) {
    const track = trackDurations(plan, AUDIO_TRACK_HEIGHT);
    out.push(
      '    <AdaptationSet id="1" contentType="audio" mimeType="audio/mp4" lang="und" segmentAlignment="true" startWithSAP="1">',
      `      <AudioChannelConfiguration schemeIdUri="urn:mpeg:dash:23003:3:audio_channel_configuration:2011" value="${audio.channels}"/>`,
      segmentTemplate(audio.sampleRate, track.durations, query, '      '),
      `      <Representation id="${trackPathName(AUDIO_TRACK_HEIGHT)}" codecs="${audio.codecs}" bandwidth="${audio.bitRate}" audioSamplingRate="${audio.sampleRate}"/>`,
      '    </AdaptationSet>',
    );
  }
  // Caption files beside the source: one text AdaptationSet each, the whole WebVTT as its BaseURL.
  captions.forEach((track, index) => {
    const url = xmlEscape(withQuery(absResourcePath({ kind: 'caption-track', lang: track.lang }), query));
    out.push(
      `    <AdaptationSet id="${index + 2}" contentType="text" mimeType="text/vtt" lang="${track.lang}">`,
      `      <Role schemeIdUri="urn:mpeg:dash:role:2011" value="${index === 0 ? 'main' : 'subtitle'}"/>`,
      `      <Representation id="text-${track.lang}" bandwidth="256">`,
      `        <BaseURL>${url}</BaseURL>`,
      '      </Representation>',
      '    </AdaptationSet>',
    );
  });
  out.push('  </Period>', '</MPD>');
  return `${out.join('\n')}\n`;
}
