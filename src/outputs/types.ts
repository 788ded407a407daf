import type { CacheMeta } from '../cache/types.js';
import type { CaptionFinder } from '../captions/finder.js';
import type { CaptionTrack } from '../captions/names.js';
import type { LayerInputs } from '../layers/inputs.js';
import type { SourceInput } from '../media/argv.js';
import type { VideoSampleIndex } from '../media/frame-index.js';
import type { StillDecoder } from '../media/still-decoder.js';
import type { PlanLimits } from '../plan/types.js';
import type { SourceFacts } from '../render/sources.js';
import type { ParamKey } from '../url/params.js';
import type { ProxyRequest, Suffix } from '../url/types.js';

/** The name of an output kind: the suffix kind its URLs parse to. */
export type OutputKindName = Suffix['kind'];

/** The suffix of one kind, with its own fields (`height`, `index`...). */
export type SuffixOf<K extends OutputKindName> = Extract<Suffix, { kind: K }>;

/** A parsed request whose suffix is of kind `K`. */
export type RequestOf<K extends OutputKindName> = Omit<ProxyRequest, 'suffix'> & { suffix: SuffixOf<K> };

/**
 * The request inputs beyond the URL path and `tr` that may reach an output's bytes. An output
 * kind reads only these, and its cache key covers exactly the ones it reads.
 */
export interface RequestInputs {
  /** The client's User-Agent (only `f-auto` reads it). */
  userAgent?: string;
  /**
   * The query repeated on the URLs a playlist or track lists: the raw `tr`, `ik-t` and `ik-s`
   * pairs of the request, nothing else (see `forwardedQuery`).
   */
  forwardedQuery: string;
  /** The versions of the layers' input files (`LayerInputs.versions`); part of every key. */
  layerVersions?: string;
  /** The source's caption tracks, for kinds that list or serve them (part of their key). */
  captions?: CaptionTrack[];
}

/** Settings every kind may read, fixed for the life of the process. */
export interface OutputSettings {
  limits: PlanLimits;
  /** HLS/DASH segment length in seconds. */
  segmentSeconds: number;
  /** sharp's `limitInputPixels` for stills. */
  maxSourcePixels: number;
  ffmpegPath: string;
  jobTimeoutMs: number;
  /** Reads layer inputs (`l-image,i-...`) from the origin; absent: layers are refused. */
  layerInputs?: LayerInputs;
  /** Decodes stills cut from a source's index, with ffmpeg processes started ahead; absent: ffmpeg seeks. */
  stills?: StillDecoder;
  /** Finds and reads the caption files beside a source; absent: streams list no captions. */
  captions?: CaptionFinder;
}

/** What identifies an output beyond its source and suffix: the cache key's kind-specific part. */
export interface OutputIdentity {
  /** The canonical `tr` the bytes depend on (segments leave out `sr`: ladders share them). */
  canonical: string;
  /** Every other input that reaches the bytes (the `f-auto` choice, the forwarded query...). */
  variant: string;
}

/** A finished output, before it is cached. */
export interface Produced {
  meta: CacheMeta;
  body: Buffer;
}

/** A body and its content type; the render path adds the ETag and Last-Modified. */
export interface OutputBody {
  contentType: string;
  body: Buffer;
}

/** A source's video sample table and a way to read the bytes it points at. */
export interface IndexedFrames {
  index: VideoSampleIndex;
  /** The source's size: an index pointing past it is not trusted. */
  size: number;
  /** Bytes `start` to `end` (exclusive) of the source, from the origin. */
  read(start: number, end: number): Promise<Buffer>;
}

/** What a buffered kind's `produce` may use: the request, the source, and the job machinery. */
export interface ProduceContext<K extends OutputKindName> {
  request: RequestOf<K>;
  facts: SourceFacts;
  inputs: RequestInputs;
  settings: OutputSettings;
  /**
   * Runs `work` in a job slot (`label` names it in metrics) with the source reachable by
   * ffmpeg; aborted when every requester has gone.
   */
  job<T>(label: string, work: (source: SourceInput, signal: AbortSignal) => Promise<T>): Promise<T>;
  /**
   * The source's video samples by its own MP4/MOV index (read again if it has left memory);
   * `undefined` for a source the index reader does not read, whose stills go through ffmpeg's seek.
   */
  frames?: () => Promise<IndexedFrames | undefined>;
  /** Caches a second output the same job made (a segment's encode also yields its init segment). */
  storeSibling(request: ProxyRequest, output: OutputBody): void;
}

/** An output written progressively; viewers follow the file while it grows. */
export interface StreamedOutput {
  contentType: string;
  /** Extra answer headers (`Vary` for `f-auto`). */
  headers?: Record<string, string>;
  /** True when the streamed bytes are the bytes that get cached, so the ETag holds from the first byte. */
  streamedIsFinal: boolean;
  /** Writes the whole output through `append`. */
  encode(source: SourceInput, append: (chunk: Buffer) => Promise<void>, signal: AbortSignal): Promise<void>;
  /** Turns the finished temporary file into the file to cache (its path; may be the same). */
  finalize?(file: string): Promise<string>;
}

interface OutputKindBase<K extends OutputKindName> {
  readonly name: K;
  /** How error messages name this kind ("thumbnails (ik-thumbnail.jpg)"). */
  readonly description: string;
  /** The `tr` parameters this kind takes; any other is a 400 naming it. */
  readonly accepts: readonly ParamKey[];
  /** True when the kind renders layers (`l-...`); otherwise a layer is a 400. */
  readonly layers?: boolean;
  /** True when the kind lists or serves the source's caption tracks (`RequestInputs.captions`). */
  readonly captions?: boolean;
  /** Checks the request beyond `accepts` (pure; throws a 400 naming the parameter). */
  check?(request: RequestOf<K>): void;
}

/**
 * The source's own bytes (no `tr`, `orig-true` or `f-orig` alone): no probe, no job, no cache.
 * Not in the registry: it shares the no-suffix URL with the transformed video.
 */
export interface OriginalKind extends OutputKindBase<'video'> {
  readonly mode: 'original';
}

/** An output made whole by one job (or from the probe alone), then cached. */
export interface BufferedKind<K extends OutputKindName = OutputKindName> extends OutputKindBase<K> {
  readonly mode: 'buffered';
  /** The kind-specific part of the cache key; must cover every input `produce` reads. */
  identify(request: RequestOf<K>, inputs: RequestInputs, settings: OutputSettings): OutputIdentity;
  /** Plans (pure) and makes the output. */
  produce(context: ProduceContext<K>): Promise<OutputBody>;
  /** A request worth preparing next at low priority (the next segment), if any. */
  next?(request: RequestOf<K>): RequestOf<K> | undefined;
}

/** An output that streams while it encodes (a transformed video). */
export interface StreamedKind<K extends OutputKindName = OutputKindName> extends OutputKindBase<K> {
  readonly mode: 'streamed';
  identify(request: RequestOf<K>, inputs: RequestInputs, settings: OutputSettings): OutputIdentity;
  /** Plans (pure) the output: its headers and how to encode it. */
  plan(
    request: RequestOf<K>,
    facts: SourceFacts,
    inputs: RequestInputs,
    settings: OutputSettings,
  ): StreamedOutput;
}

/** A kind that makes an output: what it accepts, how it is keyed, how it plans and makes its bytes. */
export type MadeKind<K extends OutputKindName = OutputKindName> = BufferedKind<K> | StreamedKind<K>;

/** Any kind a request can resolve to. */
export type OutputKind = OriginalKind | MadeKind;

/** The registry's shape: exactly one kind per suffix kind. */
export type OutputRegistry = { readonly [K in OutputKindName]: MadeKind<K> };
