/**
 * The upload and media library API, assembled from configuration: the composition root calls
 * `createApi` once and mounts the Hono app it returns before the delivery routes.
 */
import type { Hono } from 'hono';
import type { Config } from '../config/index.js';
import type { HotResponses } from '../http/hot-cache.js';
import { isWritable, type Origin, type OriginWriter } from '../origin/types.js';
import { JobLimiter } from '../render/limiter.js';
import type { Logger } from '../render/logger.js';
import type { RenderService } from '../render/service.js';
import { SourceEndpoint } from '../render/source-endpoint.js';
import { SourceReader } from '../render/sources.js';
import { type Invalidator, MediaLibrary } from './library.js';
import { PostProcessor } from './post.js';
import { FileRecords, PrivateFiles } from './records.js';
import { createApiApp, createApiOffApp } from './routes.js';
import { type StoredUpload, UploadService } from './upload.js';
import { GuardedFetcher } from './url-source.js';

export { signUploadToken } from './auth.js';
export { fileIdOf, pathOfFileId } from './names.js';

/** How old staged leftovers must be before a sweep removes them (no upload takes longer). */
const STAGING_MAX_AGE_MS = 6 * 3600_000;

/** Removes stale staging objects and token records whose expiry hour is over. Never throws. */
async function sweep(writer: OriginWriter, log: Logger): Promise<void> {
  try {
    const staged = (await writer.sweepStaging?.(STAGING_MAX_AGE_MS)) ?? 0;
    const currentHour = Math.floor(Date.now() / 3600_000);
    let tokens = 0;
    let cursor: string | undefined;
    for (let round = 0; round < 100; round++) {
      const page = await writer.records.list('tokens', { cursor, limit: 1000 });
      for (const key of page.keys) {
        const hour = Number(key.split('/')[1]);
        if (Number.isFinite(hour) && hour < currentHour) {
          await writer.records.delete(key);
          tokens++;
        }
      }
      cursor = page.cursor;
      if (!cursor) break;
    }
    if (staged || tokens) log.info({ staged, tokens }, 'swept upload leftovers');
  } catch (error) {
    log.warn({ err: error }, 'sweeping upload leftovers failed');
  }
}

/** What the API is built from (resolved by the composition root). */
export interface ApiDeps {
  config: Config;
  /** The configured origin itself (not a wrapper), so its write side is reachable. */
  origin: Origin;
  /** The delivery side's source reader. */
  sources: SourceReader;
  hot?: HotResponses;
  log: Logger;
  /** The delivery service and its job limiter: post transformations run through them at low priority. */
  service: RenderService;
  limiter: JobLimiter;
  /** Called after each stored upload (tests). */
  stored?: (stored: StoredUpload) => void;
}

/** The mounted API and what shutdown must release. */
export interface Api {
  app: Hono;
  enabled: boolean;
  /** Whether delivering `path` needs a signed URL (`isPrivateFile`); absent when the API is off. */
  isPrivate?: (path: string) => Promise<boolean>;
  close(): Promise<void>;
}

/**
 * Builds the API. Without `API_PRIVATE_KEY` it is off (404, and the start-up log says so); over a
 * read-only origin it answers 405.
 */
export async function createApi(deps: ApiDeps): Promise<Api> {
  const { config, log } = deps;
  const api = config.api;
  if (!api.enabled) {
    log.info(
      {},
      'upload and media library API is off: set API_PRIVATE_KEY to enable /api/v1/files/upload and /v1/files',
    );
    return { app: createApiOffApp('no-key'), enabled: false, close: async () => undefined };
  }
  if (!isWritable(deps.origin)) {
    log.warn({}, `upload and media library API is off: the ${deps.origin.kind} origin is read-only (405)`);
    return { app: createApiOffApp('read-only'), enabled: false, close: async () => undefined };
  }
  const writer = deps.origin.writer;
  const files = new FileRecords(writer);
  const privateFiles = new PrivateFiles(files, config.sourceTtlMs);
  const stagedEndpoint = await SourceEndpoint.start(writer.staged);
  const stagedSources = new SourceReader({
    origin: writer.staged,
    endpoint: stagedEndpoint,
    log,
    ffprobePath: config.ffprobePath,
    jobTimeoutMs: config.jobTimeoutMs,
    sourceTtlMs: 60_000,
    maxSourceBytes: config.maxSourceBytes,
  });
  const fetcher = new GuardedFetcher({
    timeoutMs: api.urlTimeoutMs,
    allowPrivate: config.allowPrivateOrigins,
  });
  const encode = (path: string) => `${config.basePath}/${path.split('/').map(encodeURIComponent).join('/')}`;
  const invalidator: Invalidator = {
    forget(path) {
      deps.sources.forget(path);
      privateFiles.note(path, undefined);
      deps.hot?.forgetPath(encode(path));
    },
  };
  const post = new PostProcessor({
    service: deps.service,
    limiter: deps.limiter,
    named: config.namedTransformations,
    fetcher,
    log,
    basePath: config.basePath,
    webhookSecret: api.webhookSecret,
  });
  const upload = new UploadService({
    writer,
    files,
    inspect: {
      staged: writer.staged,
      sources: stagedSources,
      limits: {
        maxOutputPixels: config.maxOutputPixels,
        maxSourceDuration: config.maxSourceDuration,
        maxSourcePixels: config.maxSourcePixels,
        maxSourceStreams: config.maxSourceStreams,
      },
    },
    limiter: new JobLimiter(api.uploadConcurrency, api.uploadQueue),
    config: api,
    canSign: config.signingKeys.length > 0,
    fetcher,
    log,
    named: config.namedTransformations,
    pre: {
      writer,
      staged: stagedSources,
      limiter: deps.limiter,
      named: config.namedTransformations,
      settings: {
        ffmpegPath: config.ffmpegPath,
        jobTimeoutMs: config.jobTimeoutMs,
        maxSourcePixels: config.maxSourcePixels,
        segmentSeconds: config.segmentSeconds,
        limits: {
          maxOutputPixels: config.maxOutputPixels,
          maxSourceDuration: config.maxSourceDuration,
          maxSourcePixels: config.maxSourcePixels,
          maxSourceStreams: config.maxSourceStreams,
        },
      },
    },
    stored(stored) {
      // A replaced file's old answers must not be replayed on this node.
      if (stored.replaced) invalidator.forget(stored.record.path);
      privateFiles.note(stored.record.path, stored.record.isPrivateFile);
      post.schedule(stored.record, stored.post, stored.base, stored.request.webhookUrl);
      deps.stored?.(stored);
    },
  });
  const library = new MediaLibrary({
    writer,
    files,
    sources: deps.sources,
    invalidator,
    fetcher,
    log,
    purgeWebhook: api.purgeWebhookUrl ? new URL(api.purgeWebhookUrl) : undefined,
    webhookSecret: api.webhookSecret,
  });
  // Leftovers of a process that died mid-upload, and used tokens past their hour, go at start.
  void sweep(writer, log);
  log.info(
    { keys: api.privateKeys.length, clientUploads: Boolean(api.publicKey), maxBytes: api.uploadMaxBytes },
    'upload and media library API is on: POST /api/v1/files/upload, /v1/files',
  );
  return {
    app: createApiApp({
      upload,
      library,
      privateKeys: api.privateKeys,
      publicUrl: api.publicUrl,
      basePath: config.basePath,
      log,
    }),
    enabled: true,
    isPrivate: (path) => privateFiles.isPrivate(path),
    async close() {
      await stagedEndpoint.close();
      await fetcher.close();
    },
  };
}
