import type { CaptionTrack } from '../captions/names.js';
import { BadRequestError } from '../errors.js';
import { withLayers } from '../layers/index.js';
import { runPipelineToBuffer } from '../media/runner.js';
import type { BufferedKind, RequestOf } from '../outputs/types.js';
import { serializeParams } from '../url/index.js';
import { type ParamKey, STREAMING_HEIGHTS } from '../url/params.js';
import { trQuery } from '../url/query.js';
import type { TransformParams } from '../url/types.js';
import { absInitArgs, absSegmentArgs, absVideoSegmentArgs, type SegmentLayers } from './argv.js';
import { splitInitAndMedia } from './fmp4.js';
import { AUDIO_TRACK_HEIGHT } from './layout.js';
import { dashManifest, hlsMasterPlaylist, hlsMediaPlaylist } from './manifests.js';
import { type AbsPlan, hasTrack, planAbs, segmentCount, segmentWindow } from './plan.js';

/** What every adaptive-streaming resource accepts. */
const ACCEPTS: readonly ParamKey[] = ['sr', 'so', 'eo', 'du', 'rt'];
/** ImageKit's list of parameters that make no sense with an adaptive ladder. */
const NOT_WITH_SR: readonly ParamKey[] = ['w', 'h', 'ar', 'f', 'vc', 'ac', 'q'];
const HLS_TYPE = 'application/vnd.apple.mpegurl';

type AbsKindName = 'hls-master' | 'dash-manifest' | 'hls-media' | 'abs-init' | 'abs-segment';

function checkStreaming(request: RequestOf<AbsKindName>): void {
  const params = request.params;
  const refused = NOT_WITH_SR.find((key) => params[key] !== undefined);
  if (refused) {
    throw new BadRequestError(
      `Parameter '${refused}' cannot be combined with sr (adaptive streaming)`,
      refused,
    );
  }
  const suffix = request.suffix;
  if ((suffix.kind === 'hls-master' || suffix.kind === 'dash-manifest') && params.sr === undefined) {
    throw new BadRequestError('Adaptive streaming manifests need sr, e.g. tr=sr-240_360_720', 'sr');
  }
  if ('height' in suffix && suffix.height !== AUDIO_TRACK_HEIGHT && params.sr !== undefined) {
    if (!params.sr.includes(suffix.height)) {
      throw new BadRequestError(
        `Rendition ${suffix.height} is not in the ladder sr-${params.sr.join('_')}`,
        'sr',
      );
    }
  }
}

/** Layers sit on the source's frame (after `rt`), over the stream's whole window. */
function layerFrame(plan: AbsPlan) {
  return { width: plan.sourceWidth, height: plan.sourceHeight, duration: plan.end - plan.start };
}

/** A segment's layer graph: timed on the stream's timeline from the segment's start. */
function segmentLayerGraph(plan: AbsPlan, height: number, index: number) {
  const timeOffset = segmentWindow(plan, height, index).start;
  return { input: 'lin', output: 'lout', firstInput: 1, timeOffset, format: 'yuv420p' };
}

function requireTrack(plan: AbsPlan, height: number): void {
  if (!hasTrack(plan, height)) {
    throw new BadRequestError(
      height === AUDIO_TRACK_HEIGHT
        ? 'The source has no audio track'
        : `Rendition ${height} is not part of this stream (taller than the source?)`,
      'sr',
    );
  }
}

/**
 * The query of the init and media segment URLs a playlist or manifest lists. A segment depends
 * on its rendition (in its path), the source and the chain's other steps, never on the ladder
 * that listed it; so an unsigned listing drops `sr` and one URL (one CDN object) serves every
 * ladder that holds the rendition. A signed listing repeats its query as is: the signature
 * covers it exactly. A listing reached without a query (`tr` in the path) adds none.
 */
function segmentQuery(request: RequestOf<AbsKindName>, query: string): string {
  if (query === '' || /(?:^|[?&])ik-s=/.test(query)) return query;
  const canonical = serializeParams({ ...request.params, sr: undefined });
  return canonical ? trQuery(canonical) : '';
}

/**
 * The parameters a segment is planned with: its own rendition as the ladder (a ladder-free URL
 * has none), or for audio, whose timing does not depend on the ladder, the listed ladder or the
 * lowest rendition (any stream that has a manifest is at least that tall).
 */
function segmentParams(request: RequestOf<'abs-init' | 'abs-segment'>): TransformParams {
  const height = request.suffix.height;
  if (height !== AUDIO_TRACK_HEIGHT) return { ...request.params, sr: [height] };
  return { ...request.params, sr: request.params.sr ?? [STREAMING_HEIGHTS[0]!] };
}

/**
 * A playlist or manifest: text from the probe alone. Its URLs repeat the forwarded query (`tr`,
 * `ik-t`, `ik-s` as given), so the key covers exactly that query and the segment length.
 */
function textKind<K extends 'hls-master' | 'dash-manifest' | 'hls-media'>(
  name: K,
  description: string,
  contentType: string,
  write: (plan: AbsPlan, request: RequestOf<K>, query: string, captions: CaptionTrack[]) => string,
): BufferedKind<K> {
  return {
    name,
    mode: 'buffered',
    description,
    accepts: ACCEPTS,
    layers: true,
    captions: name !== 'hls-media',
    check: checkStreaming,
    identify: (request, inputs, settings) => ({
      canonical: request.canonical,
      variant: JSON.stringify([inputs.forwardedQuery, settings.segmentSeconds]),
    }),
    async produce({ request, facts, inputs, settings }) {
      const plan = planAbs(request.params, facts.info, settings.segmentSeconds);
      const body = write(plan, request, inputs.forwardedQuery, inputs.captions ?? []);
      return { contentType, body: Buffer.from(body) };
    },
  };
}

/**
 * A CMAF init or media segment: one stateless job. Segments leave `sr` out of their key, so every
 * ladder that holds a rendition shares its segments; nothing of the query reaches their bytes.
 */
function segmentKind<K extends 'abs-init' | 'abs-segment'>(name: K): BufferedKind<K> {
  const kind: BufferedKind<'abs-init' | 'abs-segment'> = {
    name,
    mode: 'buffered',
    description: 'streaming segments',
    accepts: ACCEPTS,
    layers: true,
    check: checkStreaming,
    identify: (request, _inputs, settings) => ({
      canonical: serializeParams({ ...request.params, sr: undefined }),
      variant: String(settings.segmentSeconds),
    }),
    async produce({ request, facts, settings, job, storeSibling }) {
      const suffix = request.suffix;
      const plan = planAbs(segmentParams(request), facts.info, settings.segmentSeconds);
      requireTrack(plan, suffix.height);
      const index = suffix.kind === 'abs-segment' ? suffix.index : 0;
      if (index >= segmentCount(plan)) {
        throw new BadRequestError(
          `Segment ${index} does not exist; this stream has ${segmentCount(plan)} segments`,
          'suffix',
        );
      }
      const layers = request.params.layers;
      // The layers' inputs are fetched and decoded inside the job slot, as for a video output, so
      // the job limit bounds that work too.
      const encoded = await job('segment', (source, signal) => {
        const encode = (segmentLayers?: SegmentLayers) => {
          // An init needs only the encoder's settings: a one-frame encode yields the same bytes.
          const pipeline =
            suffix.kind === 'abs-init'
              ? absInitArgs(source, plan, suffix.height)
              : suffix.height === AUDIO_TRACK_HEIGHT
                ? absSegmentArgs(source, plan, suffix.height, index)
                : absVideoSegmentArgs(source, plan, suffix.height, index, segmentLayers);
          return runPipelineToBuffer(settings.ffmpegPath, pipeline.steps, {
            timeoutMs: settings.jobTimeoutMs,
            signal,
          });
        };
        return layers && suffix.kind === 'abs-segment' && suffix.height !== AUDIO_TRACK_HEIGHT
          ? withLayers(
              settings,
              layers,
              layerFrame(plan),
              segmentLayerGraph(plan, suffix.height, index),
              encode,
            )
          : encode();
      });
      const { init, media } = splitInitAndMedia(encoded);
      const contentType = suffix.height === AUDIO_TRACK_HEIGHT ? 'audio/mp4' : 'video/mp4';
      if (suffix.kind === 'abs-init') return { contentType, body: init };
      // A segment's encode carries the init too; keep it, so a player switching here hits it.
      storeSibling(
        { ...request, suffix: { kind: 'abs-init', height: suffix.height } },
        { contentType, body: init },
      );
      return { contentType, body: media };
    },
  };
  return kind as unknown as BufferedKind<K>;
}

const segment = segmentKind('abs-segment');

/** The output kinds of adaptive streaming, by suffix kind. */
export const absKinds: { readonly [K in AbsKindName]: BufferedKind<K> } = {
  'hls-master': textKind('hls-master', 'HLS playlists', HLS_TYPE, (plan, _request, query, captions) =>
    hlsMasterPlaylist(plan, query, captions),
  ),
  'dash-manifest': textKind(
    'dash-manifest',
    'DASH manifests',
    'application/dash+xml',
    (plan, request, query, captions) => dashManifest(plan, segmentQuery(request, query), captions),
  ),
  'hls-media': textKind('hls-media', 'HLS playlists', HLS_TYPE, (plan, request, query) => {
    requireTrack(plan, request.suffix.height);
    return hlsMediaPlaylist(plan, request.suffix.height, segmentQuery(request, query));
  }),
  'abs-init': segmentKind('abs-init'),
  'abs-segment': {
    ...segment,
    // A viewer who fetched segment N will want N+1 in a few seconds.
    next: (request) => ({ ...request, suffix: { ...request.suffix, index: request.suffix.index + 1 } }),
  },
};
