import { createHash } from 'node:crypto';
import { stat as fileStat, mkdir, rm } from 'node:fs/promises';
import os from 'node:os';
import nodePath from 'node:path';
import { Readable } from 'node:stream';
import { LRUCache } from 'lru-cache';
import { absInitArgs, absSegmentArgs } from '../abs/argv.js';
import { splitInitAndMedia } from '../abs/fmp4.js';
import {
  type AbsPlan,
  AUDIO_TRACK_HEIGHT,
  dashManifest,
  hasTrack,
  hlsMasterPlaylist,
  hlsMediaPlaylist,
  planAbs,
  segmentCount,
} from '../abs/index.js';
import type { CachedObject, CacheMeta, CacheStore } from '../cache/types.js';
import {
  BadRequestError,
  OriginError,
  PayloadTooLargeError,
  ProxyError,
  RenderError,
  UnprocessableError,
  UnsupportedMediaError,
} from '../errors.js';
import {
  frameArgs,
  probeArgs,
  remuxWithIndexArgs,
  type SourceInput,
  splitFrameFilters,
  spriteSheetArgs,
} from '../media/argv.js';
import { locateMoov, MAX_MOOV_BYTES, parseMoov } from '../media/isobmff.js';
import { parseProbeOutput } from '../media/probe.js';
import { runPipelineToBuffer, runToBuffer, startProcess } from '../media/runner.js';
import { SNIFF_BYTES, sniffDemuxer } from '../media/sniff.js';
import { renderStill } from '../media/still.js';
import type { MediaInfo } from '../media/types.js';
import { videoArgs } from '../media/video-argv.js';
import type { ByteRange, Origin, SourceStat } from '../origin/types.js';
import {
  checkSourceLimits,
  chooseAutoFormat,
  type PlanLimits,
  planRequest,
  type ThumbnailPlan,
  type TransformPlan,
  type VideoPlan,
  wantsOriginal,
} from '../plan/index.js';
import { planSprites, seekThumbnailTrack } from '../seek/plan.js';
import { serializeParams } from '../url/index.js';
import type { ProxyRequest } from '../url/types.js';
import type { JobLimiter, Priority } from './limiter.js';
import { LiveOutput } from './live-output.js';
import { SingleFlight } from './single-flight.js';
import type { SourceEndpoint, SourceGrant } from './source-endpoint.js';

/** Minimal logger shape (pino satisfies it). */
export interface Logger {
  /** pino's level check; lets hot paths skip building log lines nobody will see. */
  isLevelEnabled?(level: string): boolean;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

/** Hooks the HTTP layer uses to count what the service does. */
export interface RenderObserver {
  jobFinished?(kind: string, seconds: number, ok: boolean): void;
  cacheWriteFailed?(error: unknown): void;
}

/** Everything the service needs, built once by the composition root. */
export interface RenderServiceDeps {
  origin: Origin;
  cache: CacheStore;
  endpoint: SourceEndpoint;
  limiter: JobLimiter;
  log: Logger;
  observer?: RenderObserver;
  ffmpegPath: string;
  ffprobePath: string;
  jobTimeoutMs: number;
  /** How long a source's stat is trusted before the origin is asked again. */
  sourceTtlMs: number;
  maxSourceBytes: number;
  maxSourcePixels: number;
  limits: PlanLimits;
  /** HLS/DASH segment length in seconds. */
  segmentSeconds: number;
  /** Folder for outputs being encoded; on the cache's filesystem so finished files are renamed in. */
  workDir: string;
  /** How long an encode nobody watches any more keeps running before it is cancelled. */
  idleCancelMs?: number;
}

/** What the client sent that can change the answer. */
export interface ClientHints {
  userAgent?: string;
  /** True when the client asked for a byte range other than the whole body from 0. */
  partialRange?: boolean;
  /** The request's query string (`?tr=...&ik-s=...`), repeated on the URLs a manifest lists. */
  query?: string;
  /** `low` for work nobody waits for yet (prefetch); it never queues behind viewers. */
  priority?: Priority;
  /** Aborts when the client goes away; a job nobody waits for any more is cancelled. */
  signal?: AbortSignal;
  /** Filled in with where the time went (milliseconds), for `Server-Timing`. */
  timings?: Timings;
}

/** Milliseconds spent per phase of one request; absent phases did not happen. */
export interface Timings {
  /** Asking the origin for the source's size and version. */
  origin?: number;
  /** Looking the output up in the cache. */
  cache?: number;
  /** Sniffing and probing the source. */
  probe?: number;
  /** Waiting for a job slot. */
  queue?: number;
  /** Running ffmpeg (and sharp). */
  encode?: number;
}

async function timed<T>(timings: Timings | undefined, phase: keyof Timings, work: Promise<T>): Promise<T> {
  if (!timings) return work;
  const started = performance.now();
  try {
    return await work;
  } finally {
    timings[phase] = (timings[phase] ?? 0) + (performance.now() - started);
  }
}

/** What the HTTP layer serves: a complete output (from cache or just made) or the source itself. */
export type Delivery =
  | { kind: 'output'; object: CachedObject; cacheStatus: 'HIT' | 'MISS' }
  | { kind: 'live'; meta: CacheMeta; open(): Readable }
  | { kind: 'original'; stat: SourceStat; open(range?: ByteRange): Promise<Readable> };

/** An encode in progress that viewers can join. */
interface LiveJob {
  live: Promise<LiveOutput>;
  /** Resolves when the first bytes exist (so the response can start), rejects if the job fails first. */
  meta: Promise<CacheMeta>;
  /** Settles once the finished output is in the cache (or the job failed). */
  stored: Promise<void>;
}

/** Everything about a source the planner needs. */
interface SourceFacts {
  stat: SourceStat;
  demuxer: ReturnType<typeof sniffDemuxer> & string;
  info: MediaInfo;
}

/** A complete output produced by a job, before it is cached. */
interface Produced {
  meta: CacheMeta;
  body: Buffer;
}

function bufferObject(meta: CacheMeta, body: Buffer): CachedObject {
  return {
    meta,
    tier: 'memory',
    body,
    async open(range?: ByteRange) {
      return Readable.from(range ? [body.subarray(range.start, range.end + 1)] : [body]);
    },
  };
}

/** A strong ETag derived from what identifies an output. */
export function outputEtag(key: string): string {
  return `"${createHash('sha256').update(key).digest('base64url').slice(0, 27)}"`;
}

/**
 * The use case: from a parsed request to something servable. It looks the source up, answers
 * from the cache when it can, and otherwise plans and runs exactly one job per distinct output,
 * however many requests wait for it.
 */
export class RenderService {
  readonly #deps: RenderServiceDeps;
  readonly #stats: LRUCache<string, SourceStat>;
  readonly #facts = new LRUCache<string, SourceFacts>({ max: 5000 });
  readonly #statFlight = new SingleFlight<SourceStat>();
  readonly #factsFlight = new SingleFlight<SourceFacts>();
  /** Thumbnails and segments: cancelled 2 s after their last requester left (e.g. a seek). */
  readonly #jobs = new SingleFlight<CachedObject>(2000);
  readonly #live = new Map<string, LiveJob>();

  constructor(deps: RenderServiceDeps) {
    this.#deps = deps;
    this.#stats = new LRUCache<string, SourceStat>({ max: 10_000, ttl: Math.max(1, deps.sourceTtlMs) });
  }

  /** Size and identity of a source, cached for `sourceTtlMs`; enforces `MAX_SOURCE_BYTES`. */
  async stat(path: string): Promise<SourceStat> {
    const cached = this.#stats.get(path);
    const stat =
      cached ??
      (await this.#statFlight.run(path, async () => {
        const fresh = await this.#deps.origin.stat(path);
        this.#stats.set(path, fresh);
        return fresh;
      }));
    if (stat.size > this.#deps.maxSourceBytes) {
      throw new PayloadTooLargeError(
        `The source is ${stat.size} bytes; the limit is ${this.#deps.maxSourceBytes} bytes (MAX_SOURCE_BYTES)`,
      );
    }
    return stat;
  }

  /** Serves a request: the original bytes, or a cached, streaming or freshly made output. */
  async deliver(request: ProxyRequest, hints: ClientHints = {}): Promise<Delivery> {
    const stat = await timed(hints.timings, 'origin', this.stat(request.sourcePath));
    if (wantsOriginal(request)) return this.#original(request.sourcePath, stat);
    const key = this.#outputKey(request, stat, hints);
    const hit = await timed(hints.timings, 'cache', this.#cacheGet(key));
    if (hit) return { kind: 'output', object: hit, cacheStatus: 'HIT' };
    if (request.suffix.kind === 'video') return this.#deliverVideo(key, request, stat, hints);
    const produce = () =>
      this.#jobs.run(
        key,
        (jobSignal) => this.#produceAndStore(key, request, stat, hints, jobSignal),
        hints.signal,
      );
    // A joined prefetch may have been refused a slot; the viewer's own job then queues normally.
    const object = await produce().catch((error: unknown) => {
      if (error instanceof ProxyError && error.code === 'overloaded') return produce();
      throw error;
    });
    if (request.suffix.kind === 'abs-segment') this.#prefetchNext(request, stat, hints);
    return { kind: 'output', object, cacheStatus: 'MISS' };
  }

  /**
   * A viewer who fetched segment N will want N+1 in a few seconds: make it now if a job slot is
   * idle. Low priority never queues, so it cannot delay anyone who is waiting.
   */
  #prefetchNext(request: ProxyRequest, stat: SourceStat, hints: ClientHints): void {
    if (request.suffix.kind !== 'abs-segment' || !this.#deps.limiter.hasIdleSlot()) return;
    const next: ProxyRequest = { ...request, suffix: { ...request.suffix, index: request.suffix.index + 1 } };
    const nextHints: ClientHints = { ...hints, priority: 'low', signal: undefined };
    const key = this.#outputKey(next, stat, nextHints);
    if (this.#jobs.peek(key)) return;
    void (async () => {
      if (await this.#cacheGet(key)) return;
      await this.#jobs.run(key, (jobSignal) => this.#produceAndStore(key, next, stat, nextHints, jobSignal));
    })().catch(() => {
      // Past the last segment, or no idle slot after all: nothing to do.
    });
  }

  /**
   * What identifies an output. `f-auto` adds the format chosen for the client; playlists add the
   * query they repeat on their URLs; segments leave out `sr`, so every ladder that contains a
   * rendition shares its segments.
   */
  #outputKey(request: ProxyRequest, stat: SourceStat, hints: ClientHints): string {
    const suffix = request.suffix;
    let canonical = request.canonical;
    let variant = '';
    if (suffix.kind === 'video' && request.params.f === 'auto') variant = chooseAutoFormat(hints.userAgent);
    if (suffix.kind === 'hls-master' || suffix.kind === 'dash-manifest' || suffix.kind === 'hls-media')
      variant = hints.query ?? '';
    if (suffix.kind === 'abs-init' || suffix.kind === 'abs-segment')
      canonical = serializeParams({ ...request.params, sr: undefined });
    return JSON.stringify([
      request.sourcePath,
      stat.version,
      suffix,
      canonical,
      variant,
      this.#deps.segmentSeconds,
    ]);
  }

  /** Waits (at most `timeoutMs`) for encodes in progress to finish and store their output. */
  async drain(timeoutMs: number): Promise<void> {
    const pending = [...this.#live.values()].map((job) => job.stored);
    await Promise.race([
      Promise.allSettled(pending),
      new Promise((resolve) => setTimeout(resolve, timeoutMs).unref()),
    ]);
  }

  /** Jobs encoding right now (for tests and metrics). */
  get liveJobCount(): number {
    return this.#live.size;
  }

  /**
   * A video transform streams while it encodes. Whole-body requests follow the growing file at
   * once; a request for a byte range (Safari's `bytes=0-1` probe, a seek) waits for the encode
   * to finish and then gets an exact 206 from the cache, because a range of an unfinished file
   * has no known total length.
   */
  async #deliverVideo(
    key: string,
    request: ProxyRequest,
    stat: SourceStat,
    hints: ClientHints,
  ): Promise<Delivery> {
    let job = this.#live.get(key);
    if (!job) {
      job = this.#startVideoJob(key, request, stat, hints);
      this.#live.set(key, job);
      // Later requests join this job until its output is in the cache, never a second encode.
      void job.stored.finally(() => this.#live.delete(key));
    }
    const live = await job.live;
    const meta = await job.meta;
    if (hints.partialRange || !live.readable) {
      await live.completion;
      await job.stored;
      const stored = await this.#cacheGet(key);
      if (stored) return { kind: 'output', object: stored, cacheStatus: 'MISS' };
      throw new ProxyError(
        503,
        'cache_unavailable',
        'The output was made but could not be stored; retry the request',
        {
          headers: { 'Retry-After': '1' },
        },
      );
    }
    return { kind: 'live', meta, open: () => live.reader() };
  }

  #startVideoJob(key: string, request: ProxyRequest, stat: SourceStat, hints: ClientHints): LiveJob {
    const abort = new AbortController();
    let resolveMeta!: (meta: CacheMeta) => void;
    let rejectMeta!: (error: unknown) => void;
    const meta = new Promise<CacheMeta>((resolve, reject) => {
      resolveMeta = resolve;
      rejectMeta = reject;
    });
    meta.catch(() => {});
    const live = (async () => {
      const name = `${outputEtag(key).slice(1, -1)}-${process.pid}-${Date.now()}.part`;
      try {
        await mkdir(this.#deps.workDir, { recursive: true });
        return await LiveOutput.create(nodePath.join(this.#deps.workDir, name));
      } catch (error) {
        // The cache's disk is full or gone: still encode and stream, from the system temp folder.
        this.#deps.log.warn({ err: error }, 'cache work folder unusable; encoding in the system temp folder');
        const fallback = nodePath.join(os.tmpdir(), `ikvp-live-${process.pid}`);
        await mkdir(fallback, { recursive: true });
        return LiveOutput.create(nodePath.join(fallback, name));
      }
    })();
    const run = async () => {
      const output = await live;
      let idleTimer: NodeJS.Timeout | undefined;
      const stopIdle = output.onIdle(() => {
        idleTimer = setTimeout(() => {
          if (output.readers === 0 && !output.finished)
            abort.abort(new RenderError('Cancelled: nobody is watching this encode'));
        }, this.#deps.idleCancelMs ?? 5000);
      });
      try {
        const facts = await timed(hints.timings, 'probe', this.facts(request.sourcePath, stat));
        const auto = chooseAutoFormat(hints.userAgent);
        const plan = planRequest(request, facts.info, this.#deps.limits, auto) as VideoPlan;
        const outputMeta: CacheMeta = {
          contentType: plan.contentType,
          size: 0,
          // The streamed bytes of an mp4 are the cached bytes; a WebM is remuxed afterwards.
          etag: plan.container === 'mp4' ? outputEtag(key) : '',
          lastModified: stat.lastModified?.getTime() ?? Date.now(),
          headers: request.params.f === 'auto' ? { vary: 'User-Agent' } : undefined,
        };
        await this.#timedJob(
          'video',
          'high',
          (jobSignal) =>
            this.#withSource(request.sourcePath, stat, facts.demuxer, async (input) => {
              const proc = startProcess(this.#deps.ffmpegPath, videoArgs(input, plan), {
                timeoutMs: this.#deps.jobTimeoutMs,
                signal: jobSignal,
              });
              try {
                for await (const chunk of proc.stdout) {
                  await output.append(chunk as Buffer);
                  resolveMeta(outputMeta);
                }
              } catch (error) {
                proc.kill();
                await proc.done.catch(() => {});
                throw error;
              }
              await proc.done;
              if (output.written === 0) throw new RenderError('The encoder produced no output');
            }),
          abort.signal,
          hints.timings,
        );
        resolveMeta(outputMeta);
        await output.finish();
        let file = output.path;
        let size = output.written;
        if (plan.container === 'webm') {
          // A WebM written to a pipe has no Cues (seek index); remuxing adds them in a second,
          // so the cached file seeks well. The streamed copy therefore carried no ETag.
          file = `${output.path}.webm`;
          await runToBuffer(this.#deps.ffmpegPath, remuxWithIndexArgs(output.path, file, 'webm'), {
            timeoutMs: this.#deps.jobTimeoutMs,
          });
          size = (await fileStat(file)).size;
          await rm(output.path, { force: true });
        }
        try {
          await this.#deps.cache.put(key, { ...outputMeta, etag: outputEtag(key), size }, { file });
        } catch (error) {
          this.#deps.log.warn({ err: error }, 'cache write failed; the encoded video is not kept');
          this.#deps.observer?.cacheWriteFailed?.(error);
        } finally {
          await rm(file, { force: true });
        }
      } catch (error) {
        rejectMeta(error);
        await output.fail(error);
      } finally {
        stopIdle();
        clearTimeout(idleTimer);
      }
    };
    const stored = run().catch((error: unknown) => this.#deps.log.error({ err: error }, 'video job crashed'));
    return { live, meta, stored };
  }

  /** Probe facts for a source (used by metadata and planning), cached per source version. */
  async facts(path: string, stat: SourceStat): Promise<SourceFacts> {
    const id = `${path}\u0000${stat.version}`;
    const cached = this.#facts.get(id);
    if (cached) return cached;
    return this.#factsFlight.run(id, async () => {
      const head = await this.#readHead(path, stat);
      const demuxer = sniffDemuxer(head);
      if (!demuxer) {
        throw new UnsupportedMediaError(
          `'${path}' is not a video or audio file the proxy can read (unrecognised container)`,
        );
      }
      const indexed = demuxer === 'mov' ? await this.#readMp4Index(path, stat, head) : undefined;
      const info =
        indexed ??
        (await this.#withSource(path, stat, demuxer, async (input) => {
          const json = await runToBuffer(this.#deps.ffprobePath, probeArgs(input), {
            timeoutMs: Math.min(this.#deps.jobTimeoutMs, 30_000),
          }).catch((error: unknown) => {
            if (error instanceof ProxyError && error.code === 'render_failed') {
              throw new UnsupportedMediaError(
                `'${path}' could not be read as media; it may be corrupt or truncated`,
                { cause: error },
              );
            }
            throw error;
          });
          return parseProbeOutput(JSON.parse(json.toString('utf8')), stat.size);
        }));
      if (!info.video && !info.audio) {
        throw new UnsupportedMediaError(`'${path}' has no video or audio stream`);
      }
      const facts = { stat, demuxer, info };
      this.#facts.set(id, facts);
      return facts;
    });
  }

  /**
   * MP4/MOV facts from the file's own index, read with one or two ranged origin reads and parsed
   * in-process: no ffprobe start (about 0.1 s) on the cold path. `undefined` sends the caller to
   * ffprobe (fragmented files, odd layouts, indexes larger than `MAX_MOOV_BYTES`, any surprise).
   */
  async #readMp4Index(path: string, stat: SourceStat, head: Buffer): Promise<MediaInfo | undefined> {
    try {
      let found = locateMoov(head, 0, stat.size);
      for (let hops = 0; found && 'next' in found && hops < 8; hops++) {
        const at = found.next;
        if (at + 8 > stat.size) return undefined;
        const chunk = await this.#readRange(path, at, Math.min(stat.size, at + 64) - 1);
        found = locateMoov(chunk, at, stat.size);
      }
      if (!found || !('moov' in found) || found.moov.size > MAX_MOOV_BYTES) return undefined;
      const { offset, size } = found.moov;
      const moov =
        offset + size <= head.length
          ? head.subarray(offset, offset + size)
          : await this.#readRange(path, offset, offset + size - 1);
      return parseMoov(moov, stat.size);
    } catch (error) {
      this.#deps.log.debug({ err: error, path }, 'mp4 index not read; asking ffprobe');
      return undefined;
    }
  }

  async #readRange(path: string, start: number, end: number): Promise<Buffer> {
    const stream = await this.#deps.origin.read(path, { start, end });
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  async #original(path: string, stat: SourceStat): Promise<Delivery> {
    return {
      kind: 'original',
      stat,
      open: (range?: ByteRange) => this.#deps.origin.read(path, range),
    };
  }

  async #cacheGet(key: string): Promise<CachedObject | undefined> {
    try {
      return await this.#deps.cache.get(key);
    } catch (error) {
      this.#deps.log.warn({ err: error }, 'cache read failed; treating as a miss');
      return undefined;
    }
  }

  async #readHead(path: string, stat: SourceStat): Promise<Buffer> {
    if (stat.size === 0) throw new UnsupportedMediaError(`'${path}' is empty`);
    return this.#readRange(path, 0, Math.min(stat.size, SNIFF_BYTES) - 1);
  }

  /** Runs `work` with a loopback URL for the source and surfaces any origin failure behind it. */
  async #withSource<T>(
    path: string,
    stat: SourceStat,
    demuxer: SourceFacts['demuxer'],
    work: (input: SourceInput) => Promise<T>,
  ): Promise<T> {
    const grant: SourceGrant = this.#deps.endpoint.grant(path, stat);
    try {
      const result = await work({ url: grant.url, demuxer });
      const failure = grant.failure();
      if (failure)
        throw failure instanceof ProxyError
          ? failure
          : new OriginError('The origin failed while the source was read', { cause: failure });
      return result;
    } catch (error) {
      const failure = grant.failure();
      if (failure)
        throw failure instanceof ProxyError
          ? failure
          : new OriginError('The origin failed while the source was read', { cause: failure });
      throw error;
    } finally {
      grant.release();
    }
  }

  async #produceAndStore(
    key: string,
    request: ProxyRequest,
    stat: SourceStat,
    hints: ClientHints,
    signal: AbortSignal,
  ): Promise<CachedObject> {
    const produced = await this.#produce(key, request, stat, hints, signal);
    try {
      await this.#deps.cache.put(key, produced.meta, { buffer: produced.body });
    } catch (error) {
      // A full or broken disk degrades to serving uncached, never to an error.
      this.#deps.log.warn({ err: error }, 'cache write failed; serving uncached');
      this.#deps.observer?.cacheWriteFailed?.(error);
    }
    // The bytes are in hand: answer from them rather than reading back what was just stored.
    return bufferObject(produced.meta, produced.body);
  }

  async #produce(
    key: string,
    request: ProxyRequest,
    stat: SourceStat,
    hints: ClientHints,
    signal: AbortSignal,
  ): Promise<Produced> {
    const facts = await timed(hints.timings, 'probe', this.facts(request.sourcePath, stat));
    const suffix = request.suffix;
    if (suffix.kind === 'seek-vtt' || suffix.kind === 'sprite') {
      return this.#produceSprites(key, request, stat, facts, hints, signal);
    }
    if (suffix.kind !== 'video' && suffix.kind !== 'thumbnail' && suffix.kind !== 'metadata') {
      return this.#produceAbs(key, request, stat, facts, hints, signal);
    }
    const plan: TransformPlan = planRequest(request, facts.info, this.#deps.limits);
    const lastModified = stat.lastModified?.getTime() ?? Date.now();
    switch (plan.kind) {
      case 'metadata': {
        const body = Buffer.from(JSON.stringify(metadataDocument(facts.info, stat), null, 2));
        return {
          meta: {
            contentType: 'application/json; charset=utf-8',
            size: body.length,
            etag: outputEtag(key),
            lastModified,
          },
          body,
        };
      }
      case 'thumbnail': {
        const body = await this.#timedJob(
          'thumbnail',
          'high',
          (jobSignal) => this.#thumbnail(request.sourcePath, facts, plan, jobSignal),
          signal,
          hints.timings,
        );
        return {
          meta: { contentType: plan.contentType, size: body.length, etag: outputEtag(key), lastModified },
          body,
        };
      }
      case 'original':
      case 'video':
        throw new UnprocessableError(`A ${plan.kind} plan is not rendered to a buffer`, 'internal_plan');
    }
  }

  /** Manifests and playlists are text from the probe alone; segments are one stateless job each. */
  async #produceAbs(
    key: string,
    request: ProxyRequest,
    stat: SourceStat,
    facts: SourceFacts,
    hints: ClientHints,
    signal: AbortSignal,
  ): Promise<Produced> {
    const suffix = request.suffix;
    const plan = planAbs(request.params, facts.info, this.#deps.segmentSeconds);
    const lastModified = stat.lastModified?.getTime() ?? Date.now();
    const text = (body: string, contentType: string): Produced => {
      const buffer = Buffer.from(body);
      return {
        meta: { contentType, size: buffer.length, etag: outputEtag(key), lastModified },
        body: buffer,
      };
    };
    const query = hints.query ?? '';
    switch (suffix.kind) {
      case 'hls-master':
        return text(hlsMasterPlaylist(plan, query), 'application/vnd.apple.mpegurl');
      case 'dash-manifest':
        return text(dashManifest(plan, query), 'application/dash+xml');
      case 'hls-media':
        this.#requireTrack(plan, suffix.height);
        return text(hlsMediaPlaylist(plan, suffix.height, query), 'application/vnd.apple.mpegurl');
      case 'abs-init':
      case 'abs-segment': {
        this.#requireTrack(plan, suffix.height);
        const index = suffix.kind === 'abs-segment' ? suffix.index : 0;
        if (index >= segmentCount(plan)) {
          throw new BadRequestError(
            `Segment ${index} does not exist; this stream has ${segmentCount(plan)} segments`,
            'suffix',
          );
        }
        const encoded = await this.#timedJob(
          'segment',
          hints.priority ?? 'high',
          (jobSignal) =>
            this.#withSource(request.sourcePath, stat, facts.demuxer, (input) => {
              // An init needs only the encoder's settings: a one-frame encode yields the same bytes.
              const pipeline =
                suffix.kind === 'abs-init'
                  ? absInitArgs(input, plan, suffix.height)
                  : absSegmentArgs(input, plan, suffix.height, index);
              return runPipelineToBuffer(this.#deps.ffmpegPath, pipeline.steps, {
                timeoutMs: this.#deps.jobTimeoutMs,
                signal: jobSignal,
              });
            }),
          signal,
          hints.timings,
        );
        const { init, media } = splitInitAndMedia(encoded);
        const contentType = suffix.height === AUDIO_TRACK_HEIGHT ? 'audio/mp4' : 'video/mp4';
        const initKey = this.#outputKey(
          { ...request, suffix: { kind: 'abs-init', height: suffix.height } },
          stat,
          hints,
        );
        const segmentKey = this.#outputKey(
          { ...request, suffix: { kind: 'abs-segment', height: suffix.height, index } },
          stat,
          hints,
        );
        const initProduced = {
          meta: { contentType, size: init.length, etag: outputEtag(initKey), lastModified },
          body: init,
        };
        if (suffix.kind === 'abs-init') return initProduced;
        // A segment's encode carries the init too; keep it, so a player switching here hits it.
        void this.#deps.cache.put(initKey, initProduced.meta, { buffer: init }).catch((error: unknown) => {
          this.#deps.log.warn({ err: error }, 'cache write failed');
        });
        return {
          meta: { contentType, size: media.length, etag: outputEtag(segmentKey), lastModified },
          body: media,
        };
      }
      default:
        throw new UnprocessableError(`'${suffix.kind}' outputs are not available`, 'not_implemented');
    }
  }

  /** The seek-preview track (text from the probe alone) and its sprite sheets (one job each). */
  async #produceSprites(
    key: string,
    request: ProxyRequest,
    stat: SourceStat,
    facts: SourceFacts,
    hints: ClientHints,
    signal: AbortSignal,
  ): Promise<Produced> {
    checkSourceLimits(facts.info, this.#deps.limits);
    const plan = planSprites(request.params, facts.info, this.#deps.limits);
    const lastModified = stat.lastModified?.getTime() ?? Date.now();
    const suffix = request.suffix;
    if (suffix.kind !== 'sprite') {
      const body = Buffer.from(seekThumbnailTrack(plan, hints.query ?? ''));
      return {
        meta: {
          contentType: 'text/vtt; charset=utf-8',
          size: body.length,
          etag: outputEtag(key),
          lastModified,
        },
        body,
      };
    }
    if (suffix.index >= plan.sheets) {
      throw new BadRequestError(
        `Sprite sheet ${suffix.index} does not exist; this track has ${plan.sheets}`,
        'suffix',
      );
    }
    const tilesPerSheet = plan.columns * plan.rows;
    const start = suffix.index * tilesPerSheet * plan.interval;
    // The last sheet is only as tall as its tiles need.
    const tiles = Math.min(tilesPerSheet, plan.count - suffix.index * tilesPerSheet);
    const rows = Math.ceil(tiles / plan.columns);
    const body = await this.#timedJob(
      'sprite',
      'high',
      (jobSignal) =>
        this.#withSource(request.sourcePath, stat, facts.demuxer, (input) =>
          runToBuffer(
            this.#deps.ffmpegPath,
            spriteSheetArgs(input, { ...plan, rows, start, duration: tiles * plan.interval }),
            { timeoutMs: this.#deps.jobTimeoutMs, signal: jobSignal },
          ),
        ),
      signal,
      hints.timings,
    );
    if (body.length === 0)
      throw new UnprocessableError('No frames could be decoded for this sprite sheet', 'no_frame');
    return {
      meta: { contentType: 'image/jpeg', size: body.length, etag: outputEtag(key), lastModified },
      body,
    };
  }

  #requireTrack(plan: AbsPlan, height: number): void {
    if (!hasTrack(plan, height)) {
      throw new BadRequestError(
        height === AUDIO_TRACK_HEIGHT
          ? 'The source has no audio track'
          : `Rendition ${height} is not part of this stream (taller than the source?)`,
        'sr',
      );
    }
  }

  async #timedJob<T>(
    kind: string,
    priority: Priority,
    job: (signal: AbortSignal) => Promise<T>,
    signal?: AbortSignal,
    timings?: Timings,
  ): Promise<T> {
    const queued = performance.now();
    return this.#deps.limiter.run(
      async (jobSignal) => {
        const started = performance.now();
        if (timings) timings.queue = started - queued;
        try {
          const result = await job(jobSignal);
          if (timings) timings.encode = performance.now() - started;
          this.#deps.observer?.jobFinished?.(kind, (performance.now() - started) / 1000, true);
          return result;
        } catch (error) {
          this.#deps.observer?.jobFinished?.(kind, (performance.now() - started) / 1000, false);
          throw error;
        }
      },
      priority,
      signal,
    );
  }

  async #thumbnail(
    path: string,
    facts: SourceFacts,
    plan: ThumbnailPlan,
    signal: AbortSignal,
  ): Promise<Buffer> {
    const { filters, rest } = splitFrameFilters(plan.ops);
    const frame = await this.#withSource(path, facts.stat, facts.demuxer, async (input) => {
      const options = { timeoutMs: this.#deps.jobTimeoutMs, signal };
      let png = await runToBuffer(
        this.#deps.ffmpegPath,
        frameArgs(input, plan.time, false, filters),
        options,
      );
      // Seeking into the last frame interval can land past the final frame; take the last one then.
      if (png.length === 0 && plan.time > 0)
        png = await runToBuffer(this.#deps.ffmpegPath, frameArgs(input, 0.5, true, filters), options);
      return png;
    });
    if (frame.length === 0)
      throw new UnprocessableError(`No frame could be decoded at ${plan.time} s`, 'no_frame');
    return renderStill({
      frame,
      ops: rest,
      format: plan.format,
      quality: plan.quality,
      maxInputPixels: this.#deps.maxSourcePixels,
    });
  }
}

/** The JSON document `/ik-metadata.json` returns. */
export function metadataDocument(info: MediaInfo, stat: SourceStat) {
  return {
    // Raw elementary streams carry no duration; say unknown rather than a false 0.
    duration: info.duration > 0 ? Math.round(info.duration * 1000) / 1000 : null,
    width: info.video?.width ?? null,
    height: info.video?.height ?? null,
    rotation: info.video?.rotation ?? 0,
    frameRate: info.video ? Math.round(info.video.frameRate * 1000) / 1000 : null,
    videoCodec: info.video?.codec ?? null,
    audioCodec: info.audio?.codec ?? null,
    bitRate: info.bitRate || null,
    size: stat.size,
    format: info.formatName,
    hasAudio: Boolean(info.audio),
    audio: info.audio
      ? { codec: info.audio.codec, sampleRate: info.audio.sampleRate, channels: info.audio.channels }
      : null,
    lastModified: stat.lastModified?.toISOString() ?? null,
  };
}
