import { planAbs, presentationSeconds } from '../abs/plan.js';
import { NotFoundError, ProxyError } from '../errors.js';
import { type Cue, toWebVtt } from '../layers/subtitles.js';
import type { MediaInfo } from '../media/types.js';
import type { BufferedKind, OutputSettings, RequestInputs, RequestOf } from '../outputs/types.js';
import { STREAMING_HEIGHTS } from '../url/params.js';
import type { ProxyRequest } from '../url/types.js';
import type { CaptionTrack } from './names.js';

/** What caption tracks accept: the stream's own parameters (its ladder, window and rotation). */
const ACCEPTS = ['sr', 'so', 'eo', 'du', 'rt'] as const;

/** The stream's window on the source timeline, as its manifests plan it. */
function streamWindow(request: ProxyRequest, info: MediaInfo, settings: OutputSettings) {
  const params = { ...request.params, sr: request.params.sr ?? [STREAMING_HEIGHTS[0]!] };
  const plan = planAbs(params, info, settings.segmentSeconds);
  return { start: plan.start, seconds: presentationSeconds(plan) };
}

function trackOf(inputs: RequestInputs, lang: string): CaptionTrack {
  const track = inputs.captions?.find((candidate) => candidate.lang === lang);
  if (!track) throw new NotFoundError(`This source has no '${lang}' caption track`);
  return track;
}

/**
 * Cues moved onto the stream's timeline (a stream trimmed with `so` starts at 0) and cut to its
 * length; cues wholly outside are dropped.
 */
export function cuesOnStream(cues: readonly Cue[], start: number, seconds: number): Cue[] {
  return cues
    .map((cue) => ({
      ...cue,
      start: Math.max(0, cue.start - start),
      end: Math.min(seconds, cue.end - start),
    }))
    .filter((cue) => cue.end > cue.start);
}

/** An HLS playlist of one caption track: a single WebVTT segment as long as the stream. */
export function captionPlaylist(seconds: number, query: string): string {
  const q = query.startsWith('?') ? query : query ? `?${query}` : '';
  return [
    '#EXTM3U',
    '#EXT-X-VERSION:7',
    `#EXT-X-TARGETDURATION:${Math.max(1, Math.ceil(seconds))}`,
    '#EXT-X-MEDIA-SEQUENCE:0',
    '#EXT-X-PLAYLIST-TYPE:VOD',
    `#EXTINF:${seconds.toFixed(6)},`,
    `captions.vtt${q}`,
    '#EXT-X-ENDLIST',
    '',
  ].join('\n');
}

function reader(settings: OutputSettings) {
  const captions = settings.captions;
  if (!captions)
    throw new ProxyError(501, 'not_implemented', 'Caption tracks are not available on this deployment');
  return captions;
}

/** `ik-abs/text-<lang>/index.m3u8`: the caption track's HLS playlist. */
export const captionPlaylistKind: BufferedKind<'caption-playlist'> = {
  name: 'caption-playlist',
  mode: 'buffered',
  description: 'caption playlists',
  accepts: ACCEPTS,
  layers: true,
  captions: true,
  identify: (request, inputs, settings) => ({
    canonical: request.canonical,
    variant: JSON.stringify([inputs.forwardedQuery, settings.segmentSeconds]),
  }),
  async produce({ request, facts, inputs, settings }) {
    trackOf(inputs, request.suffix.lang);
    const { seconds } = streamWindow(request, facts.info, settings);
    return {
      contentType: 'application/vnd.apple.mpegurl',
      body: Buffer.from(captionPlaylist(seconds, inputs.forwardedQuery)),
    };
  },
};

/** `ik-abs/text-<lang>/captions.vtt`: the caption file as WebVTT on the stream's timeline. */
export const captionTrackKind: BufferedKind<'caption-track'> = {
  name: 'caption-track',
  mode: 'buffered',
  description: 'caption tracks',
  accepts: ACCEPTS,
  layers: true,
  captions: true,
  identify: (request, _inputs, settings) => ({
    canonical: request.canonical,
    variant: String(settings.segmentSeconds),
  }),
  async produce({ request, facts, inputs, settings }) {
    const track = trackOf(inputs, (request as RequestOf<'caption-track'>).suffix.lang);
    const { start, seconds } = streamWindow(request, facts.info, settings);
    const cues = cuesOnStream(await reader(settings).read(track), start, seconds);
    return { contentType: 'text/vtt; charset=utf-8', body: Buffer.from(toWebVtt(cues)) };
  },
};
