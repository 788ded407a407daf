import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { LRUCache } from 'lru-cache';
import type { Origin, SourceStat } from '../origin/types.js';

/** First window after a seek: enough for a container header or a keyframe's neighbourhood. */
const FIRST_WINDOW_BYTES = 256 * 1024;
/** Memory for recently served origin windows (see `#blocks`). */
const BLOCK_CACHE_BYTES = 64 * 1024 * 1024;
/** Larger windows are streamed through, not remembered. */
const MAX_CACHED_BLOCK_BYTES = 1024 * 1024;
/** Windows double while ffmpeg keeps reading sequentially, up to this size. */
const MAX_WINDOW_BYTES = 8 * 1024 * 1024;

/** What the endpoint remembers per grant: the source, its first failure, the read pattern. */
interface GrantState {
  path: string;
  stat: SourceStat;
  failure?: unknown;
  /** Where the last window ended + 1: a request starting there continues a sequential read. */
  nextStart: number;
  window: number;
}

/** Access for one job to one source. */
export interface SourceGrant {
  url: string;
  /** The first origin error seen while serving this grant, if any. */
  failure(): unknown;
  release(): void;
}

/**
 * A loopback-only HTTP endpoint that serves byte ranges of origin sources to ffmpeg. ffmpeg never
 * sees a remote URL or credentials: it reads `http://127.0.0.1:<port>/s/<token>`, where the
 * token is random and valid only while a job holds it. Every origin byte therefore flows through
 * the origin adapter (its SSRF guard, timeouts and byte accounting) and only the ranges ffmpeg
 * asks for are fetched.
 */
export class SourceEndpoint {
  readonly #server: Server;
  readonly #origin: Origin;
  readonly #grants = new Map<string, GrantState>();
  /**
   * Recently served small windows by source version and range. Every segment job of a source
   * starts the same way (header, index, the first windows after it), so later jobs read those
   * from memory instead of the origin.
   */
  readonly #blocks = new LRUCache<string, Buffer>({
    maxSize: BLOCK_CACHE_BYTES,
    sizeCalculation: (block) => block.length + 128,
  });
  #port = 0;

  private constructor(origin: Origin) {
    this.#origin = origin;
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch(() => res.destroy());
    });
    this.#server.keepAliveTimeout = 5000;
  }

  /** Starts the endpoint on an ephemeral 127.0.0.1 port. */
  static async start(origin: Origin): Promise<SourceEndpoint> {
    const endpoint = new SourceEndpoint(origin);
    await new Promise<void>((resolve, reject) => {
      endpoint.#server.once('error', reject);
      endpoint.#server.listen(0, '127.0.0.1', () => resolve());
    });
    endpoint.#port = (endpoint.#server.address() as AddressInfo).port;
    return endpoint;
  }

  /** Grants ffmpeg access to one source until `release` is called. */
  grant(path: string, stat: SourceStat): SourceGrant {
    const token = randomBytes(16).toString('hex');
    const grant: GrantState = { path, stat, nextStart: -1, window: FIRST_WINDOW_BYTES };
    this.#grants.set(token, grant);
    return {
      url: `http://127.0.0.1:${this.#port}/s/${token}`,
      failure: () => grant.failure,
      release: () => this.#grants.delete(token),
    };
  }

  /** Stops accepting connections and drops open ones. */
  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const token = /^\/s\/([0-9a-f]{32})$/.exec(req.url ?? '')?.[1];
    const grant = token ? this.#grants.get(token) : undefined;
    if (!grant || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404).end();
      return;
    }
    // After an origin failure ffmpeg would keep reconnecting; refuse, so the job fails at once.
    if (grant.failure) {
      res.writeHead(502).end();
      return;
    }
    const size = grant.stat.size;
    const match = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    const start = match ? Number(match[1]) : 0;
    const asked = match?.[2] ? Math.min(Number(match[2]), size - 1) : size - 1;
    if (start >= size || asked < start) {
      res.writeHead(416, { 'Content-Range': `bytes */${size}` }).end();
      return;
    }
    // ffmpeg asks for `bytes=N-` (to the end) and hangs up when it seeks; the kernel would have
    // soaked up megabytes by then. So every answer is one window: a 206 shorter than asked, after
    // which ffmpeg (`-reconnect 1`) asks for the next bytes itself. Reading on where the last
    // window ended doubles the window, so a transcode streams in large reads while a seek for a
    // thumbnail costs a few hundred kilobytes.
    const sequential = start === grant.nextStart;
    const window = sequential ? Math.min(grant.window * 2, MAX_WINDOW_BYTES) : FIRST_WINDOW_BYTES;
    const end = Math.min(asked, start + window - 1);
    grant.window = window;
    grant.nextStart = end + 1;
    res.writeHead(206, {
      'Accept-Ranges': 'bytes',
      'Content-Length': String(end - start + 1),
      'Content-Type': 'application/octet-stream',
      'Content-Range': `bytes ${start}-${end}/${size}`,
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const blockKey = `${grant.path}\u0000${grant.stat.version}\u0000${start}-${end}`;
    const cached = this.#blocks.get(blockKey);
    if (cached) {
      res.end(cached);
      return;
    }
    const abort = new AbortController();
    res.once('close', () => abort.abort());
    try {
      const body = await this.#origin.read(grant.path, { start, end }, abort.signal);
      const keep = end - start + 1 <= MAX_CACHED_BLOCK_BYTES;
      const chunks: Buffer[] = [];
      if (keep) body.on('data', (chunk: Buffer) => chunks.push(chunk));
      await pipeline(body, res, { signal: abort.signal });
      const block = keep ? Buffer.concat(chunks) : undefined;
      // Only a complete window is remembered; the same version's bytes never change.
      if (block && block.length === end - start + 1) this.#blocks.set(blockKey, block);
    } catch (error) {
      // ffmpeg closing the connection to seek elsewhere is normal. Anything else is an origin
      // failure: ffmpeg sees a short read, and the job sees the error through `failure()`, so a
      // half-read source never becomes a cached result.
      if (!abort.signal.aborted) grant.failure ??= error;
      res.destroy();
    }
  }
}
