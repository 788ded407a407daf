/**
 * Post transformations (`transformation.post`): made eagerly after an upload, in the background
 * and below viewers' priority, so the first viewer finds them cached (memory, disk and the result
 * tier). The webhook, if given, is told when each one is done (ImageKit's
 * `upload.post-transform.success` / `.error` events).
 */
import { ProxyError } from '../errors.js';
import type { JobLimiter } from '../render/limiter.js';
import type { Logger } from '../render/logger.js';
import type { RenderService } from '../render/service.js';
import { forwardedQuery } from '../url/query.js';
import { parseRequestUrl } from '../url/request.js';
import type { NamedTransformations, ProxyRequest } from '../url/types.js';
import { deliveryUrl, type UrlBase } from './answer.js';
import { InvalidFieldError } from './errors.js';
import type { PostTransformation } from './fields.js';
import type { FileRecord } from './records.js';
import type { GuardedFetcher } from './url-source.js';

/** One planned post transformation: the delivery path and query it warms. */
export interface PostStep {
  post: PostTransformation;
  /** Path below the base path, percent-encoded, starting with `/`. */
  pathname: string;
  search: string;
}

function encodePath(path: string): string {
  return `/${path.split('/').map(encodeURIComponent).join('/')}`;
}

/**
 * Pure: the delivery URLs the post transformations of `path` name, each parsed as a viewer's
 * request would be, so a bad `value` is a 400 naming it before anything is stored.
 */
export function planPost(
  path: string,
  posts: readonly PostTransformation[],
  named: NamedTransformations,
): PostStep[] {
  return posts.map((post, index) => {
    const base = encodePath(path);
    const pathname =
      post.type === 'thumbnail'
        ? `${base}/ik-thumbnail.jpg`
        : post.type === 'abs'
          ? `${base}/${post.protocol === 'hls' ? 'ik-master.m3u8' : 'ik-master.mpd'}`
          : base;
    const search = post.value ? `?tr=${post.value}` : '';
    try {
      parseRequestUrl(pathname, search, { named });
    } catch (error) {
      if (error instanceof ProxyError && error.status === 400) {
        throw new InvalidFieldError(`transformation.post[${index}].value`, error.message);
      }
      throw error;
    }
    return { post, pathname, search };
  });
}

/** What the post processor uses. */
export interface PostDeps {
  service: RenderService;
  limiter: JobLimiter;
  named: NamedTransformations;
  fetcher: GuardedFetcher;
  log: Logger;
  /** `BASE_PATH`: listed URIs carry it when playlists use absolute paths. */
  basePath: string;
  /** Signs webhook events (`WEBHOOK_SECRET`). */
  webhookSecret?: string;
  /** Longest a step waits for an idle job slot before giving up (ms). */
  maxWaitMs?: number;
}

/** Most requests one ABS warm-up makes (playlists and segments). */
const MAX_ABS_REQUESTS = 2000;

/** Runs post transformations in the background, one upload's steps one after another. */
export class PostProcessor {
  readonly #deps: PostDeps;
  #running = 0;

  constructor(deps: PostDeps) {
    this.#deps = deps;
  }

  /** Steps in progress or waiting (for tests and metrics). */
  get pending(): number {
    return this.#running;
  }

  /** Starts the steps; never throws (failures go to the webhook and the log). */
  schedule(record: FileRecord, steps: PostStep[], base: UrlBase, webhook: URL | undefined): void {
    if (steps.length === 0) return;
    this.#running++;
    void (async () => {
      for (const step of steps) {
        let ok = true;
        let message: string | undefined;
        try {
          await this.#warm(step);
        } catch (error) {
          ok = false;
          message = error instanceof ProxyError ? error.message : 'The transformation failed';
          this.#deps.log.warn(
            { err: error, path: record.path, step: step.pathname },
            'post transformation failed',
          );
        }
        if (webhook) await this.#notify(webhook, record, step, base, ok, message);
      }
    })().finally(() => {
      this.#running--;
    });
  }

  /** Waits for an idle job slot, so viewers always come first. */
  async #idle(): Promise<void> {
    const deadline = Date.now() + (this.#deps.maxWaitMs ?? 30 * 60_000);
    while (!this.#deps.limiter.hasIdleSlot()) {
      if (Date.now() > deadline)
        throw new ProxyError(503, 'overloaded', 'No idle job slot for the post transformation');
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  /** Delivers one request at low priority to its end (a streamed encode is read to the end). */
  async #deliver(request: ProxyRequest, search: string): Promise<Buffer | undefined> {
    // The same query a viewer's request forwards: playlists repeat it and it is part of their key.
    const query = forwardedQuery({ search, canonical: request.canonical, signed: false });
    for (let attempt = 0; ; attempt++) {
      await this.#idle();
      try {
        const delivery = await this.#deps.service.deliver(request, {
          priority: 'low',
          forwardedQuery: query,
        });
        if (delivery.kind === 'output') {
          if (delivery.object.body) return delivery.object.body;
          if (delivery.object.meta.size > 1024 * 1024) return undefined;
          const chunks: Buffer[] = [];
          for await (const chunk of await delivery.object.open()) chunks.push(chunk as Buffer);
          return Buffer.concat(chunks);
        }
        if (delivery.kind === 'live') {
          for await (const _chunk of delivery.open()) {
            // Reading to the end lets the encode finish and be stored.
          }
        }
        return undefined;
      } catch (error) {
        // A slot taken between the check and the job: wait for the next idle one.
        if (error instanceof ProxyError && error.code === 'overloaded' && attempt < 1000) continue;
        throw error;
      }
    }
  }

  async #warm(step: PostStep): Promise<void> {
    const { named } = this.#deps;
    const first = parseRequestUrl(step.pathname, step.search, { named });
    let body = await this.#deliver(first, step.search);
    if (step.post.type !== 'abs' || !body) return;
    let pathname = step.pathname;
    if (step.post.protocol === 'dash') {
      // DASH and HLS list the same CMAF segments (ik-abs/<track>/...): walking the HLS ladder of
      // the same tr makes every segment the MPD names.
      pathname = step.pathname.replace(/ik-master\.mpd$/, 'ik-master.m3u8');
      body = await this.#deliver(parseRequestUrl(pathname, step.search, { named }), step.search);
      if (!body) return;
    }
    // HLS: every rendition's playlist, then every segment (and init segment) it lists.
    let budget = MAX_ABS_REQUESTS;
    const { basePath } = this.#deps;
    const warm = (url: URL) =>
      this.#deliver(
        parseRequestUrl(
          basePath && url.pathname.startsWith(`${basePath}/`)
            ? url.pathname.slice(basePath.length)
            : url.pathname,
          url.search,
          { named },
        ),
        url.search,
      );
    const base = new URL(`http://proxy${basePath}${pathname}${step.search}`);
    for (const variant of uris(body.toString('utf8'), base)) {
      if (--budget < 0) return;
      const playlist = await warm(variant);
      if (!playlist) continue;
      for (const segment of uris(playlist.toString('utf8'), variant)) {
        if (--budget < 0) return;
        await warm(segment);
      }
    }
  }

  async #notify(
    webhook: URL,
    record: FileRecord,
    step: PostStep,
    base: UrlBase,
    ok: boolean,
    message: string | undefined,
  ): Promise<void> {
    const url = `${base.origin}${base.basePath}${step.pathname}${step.search}`;
    const event = {
      type: ok ? 'upload.post-transform.success' : 'upload.post-transform.error',
      id: `${record.fileId}.${step.pathname}`,
      created_at: new Date().toISOString(),
      request: { transformation: step.post },
      data: {
        fileId: record.fileId,
        url: deliveryUrl(base, record.path),
        name: record.name,
        path: `/${record.path}`,
        transformation: { ...step.post, url, ...(ok ? {} : { error: { reason: message } }) },
      },
    };
    try {
      await this.#deps.fetcher.post(webhook, event, this.#deps.webhookSecret);
    } catch (error) {
      this.#deps.log.warn({ err: error, webhook: webhook.host }, 'webhook delivery failed');
    }
  }
}

/** The URIs an HLS playlist lists (lines and `URI="..."` attributes), resolved against `base`. */
function uris(playlist: string, base: URL): URL[] {
  const out: URL[] = [];
  for (const line of playlist.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '') continue;
    if (trimmed.startsWith('#')) {
      const uri = /URI="([^"]+)"/.exec(trimmed)?.[1];
      if (uri) out.push(new URL(uri, base));
      continue;
    }
    out.push(new URL(trimmed, base));
  }
  return out;
}
