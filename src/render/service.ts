import { createHash } from 'node:crypto';
import { stat as fileStat, mkdir, rm } from 'node:fs/promises';
import os from 'node:os';
import nodePath from 'node:path';
import { Readable } from 'node:stream';
import { cacheKey } from '../cache/key.js';
import type { CachedObject, CacheMeta, CacheStore } from '../cache/types.js';
import { ProxyError, RenderError } from '../errors.js';
import type { SourceInput } from '../media/argv.js';
import type { OriginalDescription } from '../media/sniff.js';
import type { ByteRange, SourceStat } from '../origin/types.js';
import type {
  BufferedKind,
  MadeKind,
  OutputBody,
  OutputSettings,
  Produced,
  RequestInputs,
  StreamedKind,
} from '../outputs/index.js';
import { resolveOutputKind } from '../outputs/index.js';
import { checkSourceLimits } from '../plan/index.js';
import type { ProxyRequest } from '../url/types.js';
import type { JobLimiter, Priority } from './limiter.js';
import { LiveOutput } from './live-output.js';
import type { Logger } from './logger.js';
import { SingleFlight } from './single-flight.js';
import type { SourceFacts, SourceReader } from './sources.js';

export type { Logger } from './logger.js';

/** Hooks the HTTP layer uses to count what the service does. */
export interface RenderObserver {
  jobFinished?(kind: string, seconds: number, ok: boolean): void;
  cacheWriteFailed?(error: unknown): void;
}

/** Everything the service needs, built once by the composition root. */
export interface RenderServiceDeps {
  sources: SourceReader;
  cache: CacheStore;
  limiter: JobLimiter;
  log: Logger;
  observer?: RenderObserver;
  settings: OutputSettings;
  /** Folder for outputs being encoded; on the cache's filesystem so finished files are renamed in. */
  workDir: string;
  /** How long an encode nobody watches or waits for any more keeps running before it is cancelled. */
  idleCancelMs?: number;
}

/** What the client sent that can change the answer. */
export interface ClientHints {
  userAgent?: string;
  /** True when the client asked for a byte range other than the whole body from 0. */
  partialRange?: boolean;
  /** That range (`end` absent for `bytes=a-`), when it is one range from a known first byte. */
  range?: { start: number; end?: number };
  /** True for HEAD: answered from what is known, never by starting an encode nobody will read. */
  headOnly?: boolean;
  /** The request's query string (`?tr=...&ik-s=...`); only `tr`, `ik-t` and `ik-s` are ever used. */
  forwardedQuery?: string;
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
  /**
   * Bytes `start`..`end` of an output still encoding, already written (length of the whole
   * unknown), streamed from its file.
   */
  | { kind: 'live-range'; meta: CacheMeta; start: number; end: number; open(): Readable }
  /** HEAD of an output being (or about to be) encoded: its headers, no body. */
  | { kind: 'head'; meta: CacheMeta }
  | {
      kind: 'original';
      stat: SourceStat;
      description: OriginalDescription;
      open(range?: ByteRange): Promise<Readable>;
    };

/** One output asked for: its kind, cache key, request, source and who asks. */
interface Wanted<K> {
  kind: K;
  key: string;
  request: ProxyRequest;
  stat: SourceStat;
  inputs: RequestInputs;
  hints: ClientHints;
}

/** An encode in progress that viewers can join. */
interface LiveJob {
  live: Promise<LiveOutput>;
  /** Resolves when the first bytes exist (so the response can start), rejects if the job fails first. */
  meta: Promise<CacheMeta>;
  /** Settles once the finished output is in the cache (or the job failed). */
  stored: Promise<void>;
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

/** How long a range of a growing output waits for its first byte before the output is served whole. */
const GROWING_RANGE_WAIT_MS = 1000;
/** A range starting further than this past the written end of a growing output is served whole at once. */
const GROWING_RANGE_NEAR_BYTES = 256 * 1024;
/** Most bytes one answer from a growing output carries; the player asks again for the rest. */
const GROWING_RANGE_MAX_BYTES = 4 * 1024 * 1024;

/** A strong ETag derived from what identifies an output. */
export function outputEtag(key: string): string {
  return `"${createHash('sha256').update(key).digest('base64url').slice(0, 27)}"`;
}

/**
 * The render path common to every output kind: stat the source, resolve the kind, key the output,
 * answer from the cache, and otherwise check the source limits once, then let the kind plan and
 * make its bytes, with exactly one job per distinct output however many requests wait for it.
 */
export class RenderService {
  readonly #deps: RenderServiceDeps;
  /** Buffered outputs: cancelled 2 s after their last requester left (e.g. a seek). */
  readonly #jobs = new SingleFlight<CachedObject>(2000);
  readonly #live = new Map<string, LiveJob>();

  constructor(deps: RenderServiceDeps) {
    this.#deps = deps;
  }

  /** Size and identity of a source, cached for `SOURCE_TTL`; enforces `MAX_SOURCE_BYTES`. */
  stat(path: string): Promise<SourceStat> {
    return this.#deps.sources.stat(path);
  }

  /** Probe facts for a source (cached per source version). */
  facts(path: string, stat: SourceStat): Promise<SourceFacts> {
    return this.#deps.sources.facts(path, stat);
  }

  /** Serves a request: the original bytes, or a cached, streaming or freshly made output. */
  async deliver(request: ProxyRequest, hints: ClientHints = {}): Promise<Delivery> {
    const kind = resolveOutputKind(request);
    const stat = await timed(hints.timings, 'origin', this.stat(request.sourcePath));
    if (kind.mode === 'original') return this.#original(request.sourcePath, stat);
    const inputs = this.#inputs(hints);
    if (request.params.layers) {
      // A layer's file is an input like the source: its version is in the key, and a missing
      // one is a 404 naming the layer before any cache lookup or job.
      const reader = this.#deps.settings.layerInputs;
      if (!reader)
        throw new ProxyError(501, 'not_implemented', 'Layers are not available on this deployment');
      inputs.layerVersions = await timed(hints.timings, 'origin', reader.versions(request.params.layers));
    }
    if (kind.captions && this.#deps.settings.captions) {
      inputs.captions = await timed(
        hints.timings,
        'origin',
        this.#deps.settings.captions.find(request.sourcePath),
      );
    }
    const key = this.#key(kind, request, stat, inputs);
    const hit = await timed(hints.timings, 'cache', this.#cacheGet(key));
    if (hit) return { kind: 'output', object: hit, cacheStatus: 'HIT' };
    if (kind.mode === 'streamed') return this.#deliverStreamed({ kind, key, request, stat, inputs, hints });
    const wanted = { kind, key, request, stat, inputs, hints };
    const produce = () =>
      this.#jobs.run(key, (jobSignal) => this.#produceAndStore(wanted, jobSignal), hints.signal);
    // A joined prefetch may have been refused a slot; the viewer's own job then queues normally.
    const object = await produce().catch((error: unknown) => {
      if (error instanceof ProxyError && error.code === 'overloaded') return produce();
      throw error;
    });
    this.#prefetchNext(kind, request, stat, inputs);
    return { kind: 'output', object, cacheStatus: 'MISS' };
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

  #inputs(hints: ClientHints): RequestInputs {
    return { userAgent: hints.userAgent, forwardedQuery: hints.forwardedQuery ?? '' };
  }

  /**
   * The cache key: the source and its version, the suffix, and exactly the request inputs the
   * kind says reach its bytes. The schema version in `cacheKey` retires every older entry.
   */
  #key(kind: MadeKind, request: ProxyRequest, stat: SourceStat, inputs: RequestInputs): string {
    const identity = kind.identify(request, inputs, this.#deps.settings);
    return cacheKey({
      sourcePath: request.sourcePath,
      sourceVersion: stat.version,
      kind: JSON.stringify(request.suffix),
      canonical: identity.canonical,
      variant: [
        identity.variant,
        inputs.layerVersions ? `layers:${inputs.layerVersions}` : '',
        inputs.captions?.length ? `captions:${JSON.stringify(inputs.captions)}` : '',
      ]
        .filter(Boolean)
        .join('|'),
    });
  }

  /**
   * The probe facts, checked against the source limits: once, here, for every output kind,
   * before any kind plans. An over-limit source gets the same 413/422 from every output.
   */
  async #checkedFacts(path: string, stat: SourceStat, hints: ClientHints): Promise<SourceFacts> {
    const facts = await timed(hints.timings, 'probe', this.facts(path, stat));
    checkSourceLimits(facts.info, this.#deps.settings.limits);
    return facts;
  }

  /**
   * What comes after this output (the next segment) is made now if a job slot is idle. Low
   * priority never queues, so it cannot delay anyone who is waiting.
   */
  #prefetchNext(kind: MadeKind, request: ProxyRequest, stat: SourceStat, inputs: RequestInputs) {
    if (kind.mode !== 'buffered' || !kind.next || !this.#deps.limiter.hasIdleSlot()) return;
    const next = kind.next(request);
    if (!next) return;
    const key = this.#key(kind, next, stat, inputs);
    if (this.#jobs.peek(key)) return;
    const hints: ClientHints = { priority: 'low' };
    void (async () => {
      if (await this.#cacheGet(key)) return;
      await this.#jobs.run(key, (jobSignal) =>
        this.#produceAndStore({ kind, key, request: next, stat, inputs, hints }, jobSignal),
      );
    })().catch(() => {
      // Past the last segment, or no idle slot after all: nothing to do.
    });
  }

  async #produceAndStore(wanted: Wanted<BufferedKind>, signal: AbortSignal): Promise<CachedObject> {
    const { kind, key, request, stat, inputs, hints } = wanted;
    const facts = await this.#checkedFacts(request.sourcePath, stat, hints);
    const lastModified = stat.lastModified?.getTime() ?? Date.now();
    const produced = (output: OutputBody, outputKey: string): Produced => ({
      meta: {
        contentType: output.contentType,
        size: output.body.length,
        etag: outputEtag(outputKey),
        lastModified,
      },
      body: output.body,
    });
    const sources = this.#deps.sources;
    const output = await kind.produce({
      request,
      facts,
      inputs,
      settings: this.#deps.settings,
      frames: async () => {
        const index = await sources.frameIndex(request.sourcePath, stat, facts.demuxer);
        return (
          index && {
            index,
            size: stat.size,
            read: (start, end) => sources.readInterval(request.sourcePath, stat, start, end),
          }
        );
      },
      job: (label, work) =>
        this.#timedJob(
          label,
          hints.priority ?? 'high',
          (jobSignal) =>
            this.#deps.sources.withSource(request.sourcePath, stat, facts.demuxer, (source) =>
              work(source, jobSignal),
            ),
          signal,
          hints.timings,
        ),
      storeSibling: (sibling, body) => {
        const siblingKind = resolveOutputKind(sibling);
        if (siblingKind.mode === 'original') return;
        const siblingKey = this.#key(siblingKind, sibling, stat, inputs);
        const { meta } = produced(body, siblingKey);
        void this.#deps.cache.put(siblingKey, meta, { buffer: body.body }).catch((error: unknown) => {
          this.#deps.log.warn({ err: error }, 'cache write failed');
        });
      },
    });
    const { meta, body } = produced(output, key);
    try {
      await this.#deps.cache.put(key, meta, { buffer: body });
    } catch (error) {
      // A full or broken disk degrades to serving uncached, never to an error.
      this.#deps.log.warn({ err: error }, 'cache write failed; serving uncached');
      this.#deps.observer?.cacheWriteFailed?.(error);
    }
    // The bytes are in hand: answer from them rather than reading back what was just stored.
    return bufferObject(meta, body);
  }

  /**
   * A streamed output. Whole-body GETs follow the growing file at once; a request for a byte
   * range (Safari's `bytes=0-1` probe, a seek) waits for the encode to finish and then gets an
   * exact 206 from the cache, because a range of an unfinished file has no known total length.
   * A HEAD is answered from the plan and starts nothing. Every waiting requester holds the job:
   * when the last reader or waiter leaves, it is cancelled after `idleCancelMs`.
   */
  async #deliverStreamed(wanted: Wanted<StreamedKind>): Promise<Delivery> {
    const { kind, key, request, stat, inputs, hints } = wanted;
    let job = this.#live.get(key);
    if (!job && hints.headOnly) {
      const facts = await this.#checkedFacts(request.sourcePath, stat, hints);
      const output = kind.plan(request, facts, inputs, this.#deps.settings);
      return { kind: 'head', meta: this.#streamMeta(key, stat, output) };
    }
    if (!job) {
      const started = this.#startStreamJob(wanted);
      this.#live.set(key, started);
      // Later requests join this job until its output is in the cache, never a second encode.
      void started.stored.finally(() => this.#live.delete(key));
      job = started;
    }
    const live = await job.live;
    const release = live.hold(hints.signal);
    try {
      const meta = await job.meta;
      if (hints.headOnly) return { kind: 'head', meta };
      if (hints.partialRange && live.readable && !live.finished) {
        const partial = await this.#growingRange(live, meta, hints.range, hints.signal);
        if (partial) return partial;
        // A range far ahead of the encode, or of a WebM whose streamed bytes are not its final
        // ones: the whole body, streamed now (RFC 9110 lets a server ignore Range), rather than
        // a wait for the whole encode; unless the encode ended meanwhile (below).
      }
      if (!live.readable || (hints.partialRange && live.finished)) {
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
      // The reader takes over the hold before it is released, so the job never looks abandoned.
      const reader = live.reader();
      // A client that leaves before its body starts must not keep the reader (and the job) alive.
      hints.signal?.addEventListener('abort', () => reader.destroy(), { once: true });
      return { kind: 'live', meta, open: () => reader };
    } finally {
      release();
    }
  }

  /**
   * A range of an output that is still encoding, answered from what is written: a range that
   * starts at most `GROWING_RANGE_NEAR_BYTES` past the written end (Safari's `bytes=0-1` probe, a
   * player reading on) waits up to `GROWING_RANGE_WAIT_MS` for its first byte and gets the part
   * that exists (at most `GROWING_RANGE_MAX_BYTES`; the player asks again for the rest).
   * `undefined` (serve it whole, at once) for a range further ahead or not written by then, or
   * when the streamed bytes are not the final ones (no ETag: a WebM is re-indexed after its
   * encode).
   */
  async #growingRange(
    live: LiveOutput,
    meta: CacheMeta,
    range: ClientHints['range'],
    signal: AbortSignal | undefined,
  ): Promise<Delivery | undefined> {
    if (!range || !meta.etag || range.start > live.written + GROWING_RANGE_NEAR_BYTES) return undefined;
    await live.waitForBytes(range.start + 1, GROWING_RANGE_WAIT_MS);
    if (live.written <= range.start || !live.readable) return undefined;
    const last = range.start + GROWING_RANGE_MAX_BYTES - 1;
    const end = Math.min(range.end ?? last, live.written - 1, last);
    // Like the whole-body reader below: it takes over the hold, and a client that leaves first drops it.
    const reader = live.reader(range.start, end);
    signal?.addEventListener('abort', () => reader.destroy(), { once: true });
    return { kind: 'live-range', meta, start: range.start, end, open: () => reader };
  }

  #streamMeta(
    key: string,
    stat: SourceStat,
    output: { contentType: string; headers?: Record<string, string>; streamedIsFinal: boolean },
  ): CacheMeta {
    return {
      contentType: output.contentType,
      size: 0,
      etag: output.streamedIsFinal ? outputEtag(key) : '',
      lastModified: stat.lastModified?.getTime() ?? Date.now(),
      headers: output.headers,
    };
  }

  #startStreamJob(wanted: Wanted<StreamedKind>): LiveJob {
    const { kind, key, request, stat, inputs, hints } = wanted;
    const abort = new AbortController();
    let resolveMeta!: (meta: CacheMeta) => void;
    let rejectMeta!: (error: unknown) => void;
    const meta = new Promise<CacheMeta>((resolve, reject) => {
      resolveMeta = resolve;
      rejectMeta = reject;
    });
    meta.catch(() => {});
    const live = this.#createLiveOutput(key);
    const run = async () => {
      const output = await live;
      let idleTimer: NodeJS.Timeout | undefined;
      const stopIdle = output.onIdle(() => {
        clearTimeout(idleTimer);
        idleTimer = setTimeout(() => {
          if (output.idle && !output.finished)
            abort.abort(new RenderError('Cancelled: nobody is watching this encode'));
        }, this.#deps.idleCancelMs ?? 5000);
      });
      try {
        const facts = await this.#checkedFacts(request.sourcePath, stat, hints);
        const plan = kind.plan(request, facts, inputs, this.#deps.settings);
        const outputMeta = this.#streamMeta(key, stat, plan);
        await this.#timedJob(
          'video',
          'high',
          (jobSignal) =>
            this.#deps.sources.withSource(request.sourcePath, stat, facts.demuxer, (source: SourceInput) =>
              plan.encode(
                source,
                async (chunk) => {
                  await output.append(chunk);
                  resolveMeta(outputMeta);
                },
                jobSignal,
              ),
            ),
          abort.signal,
          hints.timings,
        );
        resolveMeta(outputMeta);
        await output.finish();
        const file = plan.finalize ? await plan.finalize(output.path) : output.path;
        try {
          const { size } = await fileStat(file);
          await this.#deps.cache.put(key, { ...outputMeta, etag: outputEtag(key), size }, { file });
        } catch (error) {
          this.#deps.log.warn({ err: error }, 'cache write failed; the encoded output is not kept');
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
    const stored = run().catch((error: unknown) =>
      this.#deps.log.error({ err: error }, 'streamed job crashed'),
    );
    return { live, meta, stored };
  }

  /** The temporary file an encode appends to; in the system temp folder when the cache disk fails. */
  async #createLiveOutput(key: string): Promise<LiveOutput> {
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
  }

  /** The original: its media type is sniffed from its first bytes, whatever the origin claims. */
  async #original(path: string, stat: SourceStat): Promise<Delivery> {
    return {
      kind: 'original',
      stat,
      description: await this.#deps.sources.describeOriginal(path, stat),
      open: (range?: ByteRange) => this.#deps.sources.open(path, range),
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
}
