import { LRUCache } from 'lru-cache';

/** A complete 200 answer for one exact request URL, ready to send again. */
export interface HotEntry {
  body: Buffer;
  /** Every header except the per-request ones (`X-Request-Id`, `Server-Timing`). */
  headers: Record<string, string>;
  etag: string;
  /** Output kind, for metrics. */
  kind: string;
  /** Epoch milliseconds after which the entry must not be used. */
  expires: number;
  /** A signed URL's `ik-t` (epoch seconds): its `Cache-Control` is cut again at each replay. */
  signedUntil?: number;
}

/** Sizing of the hot response cache. */
export interface HotCacheOptions {
  maxBytes: number;
  /** Largest body kept (the memory tier's item limit). */
  maxItemBytes: number;
  /** How long an answer may be replayed: the source stat TTL, so it is never staler than a full lookup. */
  ttlMs: number;
}

/**
 * Remembers small, complete answers by their exact request URL, so a repeated request for a
 * cached thumbnail skips parsing, the source lookup and the cache key and goes straight to the
 * socket. An entry lives no longer than `SOURCE_TTL` (the same bound on staleness as the source
 * stat cache) nor past its own `ik-t` expiry, and only whole-body GET/HEAD requests without
 * conditions or ranges are answered from it.
 */
export class HotResponses {
  readonly #entries: LRUCache<string, HotEntry>;
  readonly #ttlMs: number;
  readonly #maxItemBytes: number;

  constructor(options: HotCacheOptions) {
    this.#ttlMs = options.ttlMs;
    this.#maxItemBytes = options.maxItemBytes;
    this.#entries = new LRUCache<string, HotEntry>({
      maxSize: Math.max(1, options.maxBytes),
      sizeCalculation: (entry, key) => entry.body.length + key.length + 512,
    });
  }

  /** The entry for `url` if it is still valid at `now`. */
  get(url: string, now = Date.now()): HotEntry | undefined {
    const entry = this.#entries.get(url);
    if (!entry) return undefined;
    if (entry.expires <= now) {
      this.#entries.delete(url);
      return undefined;
    }
    return entry;
  }

  /**
   * Drops every answer whose URL path is `pathname` or lies under it (`/a.mp4` also drops
   * `/a.mp4/ik-thumbnail.jpg` and `/tr:w-300/a.mp4`): a deleted or replaced source stops being
   * replayed at once. `pathname` is percent-encoded as in a URL.
   */
  forgetPath(pathname: string): void {
    for (const url of [...this.#entries.keys()]) {
      // The path form (`/tr:w-300/a.mp4`) names the same source.
      const path = new URL(url).pathname.replace(/\/tr:[^/]*(?=\/)/, '');
      if (path === pathname || path.startsWith(`${pathname}/`)) this.#entries.delete(url);
    }
  }

  /** Stores an answer; `signedUntil` (seconds) caps the lifetime of a URL carrying `ik-t`. */
  remember(
    url: string,
    entry: Omit<HotEntry, 'expires' | 'signedUntil'>,
    signedUntil?: number,
    now = Date.now(),
  ): void {
    if (this.#ttlMs <= 0 || entry.body.length === 0 || entry.body.length > this.#maxItemBytes) return;
    const expires = Math.min(
      now + this.#ttlMs,
      signedUntil === undefined ? Number.POSITIVE_INFINITY : signedUntil * 1000,
    );
    if (expires <= now) return;
    this.#entries.set(url, { ...entry, expires, signedUntil });
  }

  get size(): number {
    return this.#entries.size;
  }
}
