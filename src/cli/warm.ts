import { dashReferences, hlsReferences, manifestKind } from '../abs/read.js';
import { DEFAULT_TIMEOUT_SECONDS } from './args.js';
import { resolveTarget } from './targets.js';

/** A playlist longer than this is not a playlist this proxy wrote; refuse rather than buffer it. */
const MAX_PLAYLIST_BYTES = 8 * 1024 * 1024;
/** Upper bound on what one warm run fetches, so a hostile or looping manifest cannot run forever. */
const MAX_RESOURCES = 100_000;

/** How one request of a warm run ended. */
export interface WarmResult {
  url: string;
  /** HTTP status, or 0 when no response arrived (connection refused, timeout). */
  status: number;
  /** `Cache-Status` (or else `X-Cache`) of the response, when there was one. */
  cache: string | null;
  /** `cached`: a cache on the way already had it (`Cache-Status: ...; hit`); `done`: made or fetched now. */
  outcome: 'done' | 'cached' | 'failed';
  bytes: number;
  ms: number;
  error?: string;
}

/** Totals of a warm run, and the requests that failed. */
export interface WarmSummary {
  total: number;
  done: number;
  cached: number;
  failed: number;
  failures: WarmResult[];
  seconds: number;
}

/** How `warm` runs. */
export interface WarmOptions {
  base: string;
  concurrency: number;
  timeoutSeconds?: number;
  userAgent?: string;
  /** Called after every request with the totals so far (for a progress display). */
  onResult?: (result: WarmResult, progress: { finished: number; known: number }) => void;
  fetch?: typeof fetch;
}

async function drain(body: ReadableStream<Uint8Array> | null): Promise<number> {
  if (!body) return 0;
  let bytes = 0;
  // The whole body is read: a streaming encode whose reader leaves early is cancelled, not cached.
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) bytes += chunk.byteLength;
  return bytes;
}

async function readLimited(response: Response): Promise<string> {
  const declared = Number(response.headers.get('content-length') ?? 0);
  if (declared > MAX_PLAYLIST_BYTES) throw new Error(`playlist of ${declared} bytes is too large`);
  const text = await response.text();
  if (text.length > MAX_PLAYLIST_BYTES) throw new Error('playlist is too large');
  return text;
}

/** `fetch failed: connect ECONNREFUSED ...`: undici hides the useful part in `cause`. */
function describeFailure(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? error.cause.message : undefined;
  return cause ? `${error.message}: ${cause}` : error.message;
}

/**
 * Requests every target (and everything the playlists among them list) with at most
 * `concurrency` requests at once, reading each body to the end so the proxy finishes and caches
 * it. Each distinct URL is requested once. Never rejects: failures are counted in the summary.
 */
export async function warm(targets: readonly string[], options: WarmOptions): Promise<WarmSummary> {
  const started = performance.now();
  const doFetch = options.fetch ?? fetch;
  const concurrency = Math.max(1, Math.floor(options.concurrency));
  const queue: string[] = [];
  const seen = new Set<string>();
  const summary: WarmSummary = { total: 0, done: 0, cached: 0, failed: 0, failures: [], seconds: 0 };
  const enqueue = (url: string) => {
    if (seen.has(url) || seen.size >= MAX_RESOURCES) return;
    seen.add(url);
    queue.push(url);
  };
  for (const target of targets) enqueue(resolveTarget(target, options.base));

  const visit = async (url: string): Promise<void> => {
    const begun = performance.now();
    let result: WarmResult;
    try {
      const headers: Record<string, string> = {};
      if (options.userAgent) headers['User-Agent'] = options.userAgent;
      const response = await doFetch(url, {
        headers,
        signal: AbortSignal.timeout((options.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS) * 1000),
      });
      // RFC 9211 Cache-Status lists every cache on the way (the proxy's, then a CDN's); X-Cache
      // is the proxy's own label, which the shipped CDN configs hide.
      const cache = response.headers.get('cache-status') ?? response.headers.get('x-cache');
      const kind = response.ok ? manifestKind(url, response.headers.get('content-type')) : undefined;
      let bytes: number;
      if (kind) {
        const text = await readLimited(response);
        bytes = Buffer.byteLength(text);
        for (const reference of kind === 'hls' ? hlsReferences(text, url) : dashReferences(text, url))
          enqueue(reference);
      } else {
        bytes = await drain(response.body);
      }
      const outcome = !response.ok ? 'failed' : isCacheHit(cache) ? 'cached' : 'done';
      result = { url, status: response.status, cache, outcome, bytes, ms: performance.now() - begun };
    } catch (error) {
      result = {
        url,
        status: 0,
        cache: null,
        outcome: 'failed',
        bytes: 0,
        ms: performance.now() - begun,
        error: describeFailure(error),
      };
    }
    summary.total++;
    summary[result.outcome]++;
    if (result.outcome === 'failed') summary.failures.push(result);
    options.onResult?.(result, { finished: summary.total, known: seen.size });
  };

  // A worker pool over a queue that grows as playlists are read: a worker that finds the queue
  // empty waits for the others, since any of them may still add references.
  let active = 0;
  await new Promise<void>((resolve) => {
    const pump = () => {
      while (active < concurrency && queue.length > 0) {
        const url = queue.shift()!;
        active++;
        void visit(url).finally(() => {
          active--;
          pump();
        });
      }
      if (active === 0 && queue.length === 0) resolve();
    };
    pump();
  });
  summary.seconds = (performance.now() - started) / 1000;
  return summary;
}

/** True when some cache on the way answered from its store (`Cache-Status` member `; hit`, or `X-Cache: HIT-*`). */
export function isCacheHit(status: string | null): boolean {
  if (!status) return false;
  return status.toUpperCase().startsWith('HIT') || /(?:^|,)\s*[^,;]+;\s*hit\s*(?:;|,|$)/i.test(status);
}
