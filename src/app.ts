import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Hono } from 'hono';
import { pino } from 'pino';
import { createApi } from './api/index.js';
import { createCache } from './cache/index.js';
import { CaptionFinder } from './captions/finder.js';
import type { Config } from './config/index.js';
import { HotResponses } from './http/hot-cache.js';
import { ProxyMetrics } from './http/metrics.js';
import { loadPlaygroundAssets } from './http/playground/index.js';
import { createHttpApp, hotFetch } from './http/routes.js';
import { LayerInputs } from './layers/index.js';
import { LiveService, liveWorkDir } from './live/index.js';
import { liveChildCount, runToBuffer } from './media/runner.js';
import { StillDecoder } from './media/still-decoder.js';
import { CountingOrigin } from './origin/counting.js';
import { createOrigin } from './origin/index.js';
import { isWritable, type Origin } from './origin/types.js';
import { JobLimiter } from './render/limiter.js';
import { type Logger, RenderService } from './render/service.js';
import { SourceEndpoint } from './render/source-endpoint.js';
import { SourceReader } from './render/sources.js';
import { signPath } from './url/signature.js';

/** An image layer (a watermark, a logo) larger than this is refused with a 413. */
const LAYER_IMAGE_MAX_BYTES = 16 * 1024 * 1024;

/** A built proxy: the Hono app plus what start-up and shutdown need to reach. */
export interface VideoProxy {
  app: Hono;
  /** What the HTTP server calls: the hot path for repeated small answers, then the app. */
  fetch: (request: Request, env?: unknown) => Response | Promise<Response>;
  service: RenderService;
  origin: CountingOrigin;
  limiter: JobLimiter;
  log: Logger;
  metrics: ProxyMetrics;
  /** Live ingest, when `RTMP_PORT` is set (its RTMP listener is already listening). */
  live?: LiveService;
  /** Marks the proxy as stopping (readiness fails) and releases its resources. */
  close(): Promise<void>;
  beginShutdown(): void;
}

/** Optional overrides, mainly for tests (a counting or faulty origin, a silent logger). */
export interface BuildOptions {
  origin?: Origin;
  log?: Logger;
}

/** How long a request log line may wait in the buffer before it is written. */
const LOG_FLUSH_MS = 200;

/**
 * JSON logs on stdout through a buffered writer: one `write(2)` per 4 KB of lines (or per
 * `LOG_FLUSH_MS`) instead of one per cache hit. pino flushes the buffer synchronously when the
 * process exits, so only a SIGKILL can lose the last `LOG_FLUSH_MS` of lines.
 */
function createLogger(level: Config['logLevel']): Logger {
  const destination = pino.destination({ dest: 1, sync: false, minLength: 4096 });
  setInterval(() => {
    // sonic-boom throws once it is destroyed (at exit), and its typings omit the flag.
    if (!(destination as unknown as { destroyed: boolean }).destroyed) destination.flush();
  }, LOG_FLUSH_MS).unref();
  return pino({ level }, destination);
}

/**
 * The composition root: builds the origin, caches, job limiter, source endpoint and service from
 * configuration and wires them into the HTTP app. Nothing else constructs these.
 */
export async function buildProxy(config: Config, options: BuildOptions = {}): Promise<VideoProxy> {
  const log: Logger = options.log ?? createLogger(config.logLevel);
  const backend = options.origin ?? createOrigin(config);
  const origin = new CountingOrigin(backend);
  const cache = await createCache(config, {
    onError: (error) => log.warn({ err: error }, 'cache tier failed'),
  });
  // Encodes interrupted by a crash or kill leave their partial files here; none is ever served.
  await rm(path.join(config.cacheDir, 'live'), { recursive: true, force: true });
  const endpoint = await SourceEndpoint.start(origin);
  const limiter = new JobLimiter(config.maxJobs, config.maxQueue);
  let metrics: ProxyMetrics | undefined;
  const sources = new SourceReader({
    origin,
    endpoint,
    log,
    ffprobePath: config.ffprobePath,
    jobTimeoutMs: config.jobTimeoutMs,
    sourceTtlMs: config.sourceTtlMs,
    maxSourceBytes: config.maxSourceBytes,
  });
  const stills = new StillDecoder(config.ffmpegPath, config.ffmpegStandby);
  const service = new RenderService({
    observer: {
      jobFinished: (kind, seconds, ok) => metrics?.job(kind, seconds, ok),
      cacheWriteFailed: () => metrics?.cacheWriteFailed(),
    },
    sources,
    cache,
    limiter,
    log,
    workDir: path.join(config.cacheDir, 'live'),
    settings: {
      ffmpegPath: config.ffmpegPath,
      stills,
      jobTimeoutMs: config.jobTimeoutMs,
      maxSourcePixels: config.maxSourcePixels,
      segmentSeconds: config.segmentSeconds,
      // Layer inputs come through the same reader as sources: one adapter, one set of limits.
      layerInputs: new LayerInputs(
        {
          stat: (file) => sources.stat(file),
          open: (file) => sources.open(file),
          facts: (file, stat) => sources.facts(file, stat),
          withSource: (file, stat, demuxer, work) => sources.withSource(file, stat, demuxer, work),
        },
        { maxPixels: config.maxSourcePixels, maxImageBytes: LAYER_IMAGE_MAX_BYTES },
      ),
      // Caption files beside a source (`a.en.vtt`), listed through the origin when it can list.
      captions: new CaptionFinder(
        {
          list: origin.list && ((dir, limit) => origin.list!(dir, limit)),
          stat: (file) => sources.stat(file),
          open: (file) => sources.open(file),
        },
        config.sourceTtlMs,
      ),
      limits: {
        maxOutputPixels: config.maxOutputPixels,
        maxSourceDuration: config.maxSourceDuration,
        maxSourcePixels: config.maxSourcePixels,
        maxSourceStreams: config.maxSourceStreams,
      },
    },
  });
  const hot = new HotResponses({
    maxBytes: Math.floor(config.memoryCacheMaxBytes / 4),
    maxItemBytes: config.memoryCacheMaxItemBytes,
    ttlMs: config.sourceTtlMs,
  });
  // The API writes through the configured origin itself (the counting wrapper only reads).
  const api = await createApi({ config, origin: backend, sources, hot, log, service, limiter });
  metrics = new ProxyMetrics({
    limiter: () => limiter.stats(),
    origin: () => origin.stats(),
    liveChildren: liveChildCount,
  });
  const registry = metrics;
  const live = config.live
    ? new LiveService(
        {
          ...config.live,
          host: config.host,
          signingKeys: config.signingKeys,
          maxDurationMs: config.maxSourceDuration * 1000,
          ffmpegPath: config.ffmpegPath,
          workDir: liveWorkDir(config.cacheDir),
        },
        { limiter, log, origin: isWritable(backend) ? backend : undefined, registry: registry.registry },
      )
    : undefined;
  if (live) {
    // Working folders of streams cut off by a crash; their recordings are lost with them.
    await rm(liveWorkDir(config.cacheDir), { recursive: true, force: true });
    await live.listen();
    log.info({ port: live.port }, `live ingest on rtmp://${config.host}:${live.port}/live`);
  }
  const signingKey = config.signingKeys[0];
  const playground = config.playground
    ? {
        basePath: config.basePath,
        listSources: origin.list,
        sign: signingKey
          ? (pathAndQuery: string) =>
              signPath(pathAndQuery, signingKey, undefined, { basePath: config.basePath })
          : undefined,
        assets: await loadPlaygroundAssets(),
        uploads: api.enabled,
      }
    : undefined;
  if (playground && signingKey) {
    log.warn(
      {},
      'PLAYGROUND is on with SIGNING_KEY set: /playground/api/sign signs any path for anyone who can reach it; set PLAYGROUND=false in production',
    );
  }
  let stopping = false;
  const app = createHttpApp({
    service,
    log,
    named: config.namedTransformations,
    signingKeys: config.signingKeys,
    basePath: config.basePath,
    requireSignedUrls: config.requireSignedUrls,
    cacheControl: config.cacheControl,
    isStopping: () => stopping,
    hotCache: hot,
    metricsText: () => registry.text(),
    live: live?.routes,
    playground,
    api: api.app,
    isPrivateSource: api.isPrivate,
    onRequest: (kind, status, seconds, cache) => registry.request(kind, status, seconds, cache ?? null),
    readiness: [
      async () => {
        try {
          await runToBuffer(config.ffmpegPath, ['-hide_banner', '-version'], { timeoutMs: 5000 });
          return undefined;
        } catch {
          return `ffmpeg not runnable at ${config.ffmpegPath}`;
        }
      },
      async () => {
        try {
          // A real write into the cache's own temp folder: W_OK alone says yes to a full disk.
          return (await cache.writable()) ? undefined : `cache directory ${config.cacheDir} is not writable`;
        } catch {
          return `cache directory ${config.cacheDir} is not writable`;
        }
      },
      async () => {
        try {
          await origin.ping(AbortSignal.timeout(5000));
          return undefined;
        } catch (error) {
          // Only the log sees this; `detail` names the folder, bucket or host that failed.
          const { detail, message } = error as Error & { detail?: string };
          return `origin unreachable: ${detail ?? message}`;
        }
      },
    ],
  });
  return {
    app,
    fetch: hotFetch(
      {
        hot,
        log,
        isStopping: () => stopping,
        onRequest: (kind, status, seconds, cache) => registry.request(kind, status, seconds, cache ?? null),
      },
      (request, env) => app.fetch(request, env),
    ),
    service,
    origin,
    limiter,
    log,
    metrics: registry,
    live,
    beginShutdown() {
      stopping = true;
      stills.close();
    },
    async close() {
      stopping = true;
      // Live streams end first: their playlists close and their recordings reach the origin.
      await live?.close();
      // Closing the source endpoint makes running encodes fail fast; then let them clean up.
      await endpoint.close();
      stills.close();
      await api.close();
      await service.drain(5000);
    },
  };
}
