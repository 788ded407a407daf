import { pipeline, type Readable, Transform } from 'node:stream';
import type { ByteRange, Origin, SourceListing, SourceStat } from './types.js';

/** What a `CountingOrigin` has seen since it was made or last reset. */
export interface OriginStats {
  /** Backend requests started: every `stat`, `read` and `ping`. */
  requests: number;
  /** Body bytes actually handed to readers (not merely asked for). */
  bytes: number;
}

/**
 * Wraps an origin and counts its requests and the body bytes that flow to readers, for the
 * origin-bytes metric and for tests asserting that a thumbnail read only part of a source.
 */
export class CountingOrigin implements Origin {
  readonly kind: string;
  readonly inner: Origin;
  #requests = 0;
  #bytes = 0;
  /** Present only when the wrapped origin can list. */
  readonly list?: (dir: string, limit: number) => Promise<SourceListing[]>;

  constructor(inner: Origin) {
    this.inner = inner;
    this.kind = inner.kind;
    if (inner.list) {
      const list = inner.list.bind(inner);
      this.list = (dir, limit) => {
        this.#requests++;
        return list(dir, limit);
      };
    }
  }

  /** Counts and delegates. */
  stat(path: string, signal?: AbortSignal): Promise<SourceStat> {
    this.#requests++;
    return this.inner.stat(path, signal);
  }

  /** Counts the request, then each chunk as it passes to the reader. */
  async read(path: string, range?: ByteRange, signal?: AbortSignal): Promise<Readable> {
    this.#requests++;
    const source = await this.inner.read(path, range, signal);
    const counter = new Transform({
      transform: (chunk: Buffer, _encoding, done) => {
        this.#bytes += chunk.length;
        done(null, chunk);
      },
    });
    // pipeline carries errors forward and tears the source down when the reader destroys us.
    return pipeline(source, counter, () => undefined);
  }

  /** Counts and delegates. */
  ping(signal?: AbortSignal): Promise<void> {
    this.#requests++;
    return this.inner.ping(signal);
  }

  /** Requests and bytes so far. */
  stats(): OriginStats {
    return { requests: this.#requests, bytes: this.#bytes };
  }

  /** Starts counting from zero again. */
  reset(): void {
    this.#requests = 0;
    this.#bytes = 0;
  }
}
