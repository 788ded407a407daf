import { EventEmitter } from 'node:events';
import { type FileHandle, open, rm } from 'node:fs/promises';
import { Readable } from 'node:stream';

/**
 * An output that is still being encoded. The encoder appends to a temporary file; any number of
 * viewers read it from the start while it grows, so the first viewer (and everyone who asks for
 * the same output meanwhile) gets bytes within a second instead of after the whole encode. When
 * the encode finishes the file is handed to the cache; if it fails, readers get an error and the
 * file is deleted, so nothing partial is ever cached.
 */
export class LiveOutput {
  readonly path: string;
  readonly #events = new EventEmitter();
  #handle: FileHandle | undefined;
  #written = 0;
  #state: 'open' | 'done' | 'failed' = 'open';
  #error: unknown;
  #readers = 0;
  /** Requesters waiting for something other than a body stream (first bytes, completion). */
  #holds = 0;
  /** Settles when the encode ends: resolves on success, rejects with the failure. */
  readonly completion: Promise<void>;
  #settle!: { resolve: () => void; reject: (error: unknown) => void };

  private constructor(path: string, handle: FileHandle) {
    this.path = path;
    this.#handle = handle;
    this.#events.setMaxListeners(0);
    this.completion = new Promise<void>((resolve, reject) => {
      this.#settle = { resolve, reject };
    });
    this.completion.catch(() => {});
  }

  /** Creates the temporary file the encoder will append to. */
  static async create(path: string): Promise<LiveOutput> {
    return new LiveOutput(path, await open(path, 'wx+'));
  }

  /** Bytes appended so far. */
  get written(): number {
    return this.#written;
  }

  /** Viewers currently reading. */
  get readers(): number {
    return this.#readers;
  }

  /** True when nobody reads or waits: an encode in this state is abandoned. */
  get idle(): boolean {
    return this.#readers === 0 && this.#holds === 0;
  }

  /**
   * Registers a requester that waits for the output (for its first bytes, or for the whole
   * encode before a ranged answer) without reading it yet. It counts like a reader for
   * abandonment until the returned release is called or `signal` aborts.
   */
  hold(signal?: AbortSignal): () => void {
    this.#holds++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      signal?.removeEventListener('abort', release);
      this.#holds--;
      this.#emitIfIdle();
    };
    if (signal?.aborted) release();
    else signal?.addEventListener('abort', release, { once: true });
    return release;
  }

  #emitIfIdle(): void {
    if (this.idle && this.#state === 'open') this.#events.emit('idle');
  }

  get finished(): boolean {
    return this.#state !== 'open';
  }

  /** Appends a chunk; resolves once it is on disk and visible to readers. */
  async append(chunk: Buffer): Promise<void> {
    if (!this.#handle || this.#state !== 'open') throw new Error('LiveOutput is closed');
    let offset = 0;
    while (offset < chunk.length) {
      const { bytesWritten } = await this.#handle.write(
        chunk,
        offset,
        chunk.length - offset,
        this.#written + offset,
      );
      offset += bytesWritten;
    }
    this.#written += chunk.length;
    this.#events.emit('change');
  }

  /** Marks the output complete (the file stays for the cache to take). */
  async finish(): Promise<void> {
    await this.#handle?.sync();
    this.#state = 'done';
    this.#closeIfUnused();
    this.#events.emit('change');
    this.#settle.resolve();
  }

  /** Marks the output failed: readers error, the temporary file is removed. */
  async fail(error: unknown): Promise<void> {
    if (this.#state !== 'open') return;
    this.#state = 'failed';
    this.#error = error;
    this.#closeIfUnused();
    await rm(this.path, { force: true });
    this.#events.emit('change');
    this.#settle.reject(error);
  }

  /** Readers share the writer's descriptor, so the file can be renamed into the cache under them. */
  #closeIfUnused(): void {
    if (this.#state === 'open' || this.#readers > 0 || !this.#handle) return;
    const handle = this.#handle;
    this.#handle = undefined;
    void handle.close().catch(() => {});
  }

  /** Registers a listener for when the last reader or waiter leaves. */
  onIdle(listener: () => void): () => void {
    this.#events.on('idle', listener);
    return () => this.#events.off('idle', listener);
  }

  /** True while a new reader can still follow the file (the encode runs, or readers hold it open). */
  get readable(): boolean {
    return this.#state !== 'failed' && this.#handle !== undefined;
  }

  /**
   * Resolves once at least `count` bytes are written, the encode has ended, or `timeoutMs` has
   * passed, whichever comes first (the caller reads `written` to see which).
   */
  async waitForBytes(count: number, timeoutMs: number): Promise<void> {
    if (this.#written >= count || this.#state !== 'open') return;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#events.off('change', check);
        resolve();
      };
      const check = () => {
        if (this.#written >= count || this.#state !== 'open') done();
      };
      const timer = setTimeout(done, timeoutMs);
      this.#events.on('change', check);
    });
  }

  /**
   * A stream of the output from byte `start` through `end` (inclusive; by default to the end of
   * the output), following the file as it grows. It reads from the writer's own descriptor, so a
   * rename into the cache cannot pull the file away, and it reads at most 1 MiB at a time as the
   * client takes it: a ranged answer costs no more memory than a whole-body one.
   */
  reader(start = 0, end = Number.POSITIVE_INFINITY): Readable {
    if (!this.readable) throw new Error('LiveOutput is no longer readable');
    const live = this;
    live.#readers++;
    let position = start;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      live.#readers--;
      live.#emitIfIdle();
      live.#closeIfUnused();
    };
    const waitForChange = () => new Promise<void>((resolve) => live.#events.once('change', () => resolve()));
    return new Readable({
      highWaterMark: 256 * 1024,
      async read(size) {
        try {
          for (;;) {
            if (live.#state === 'failed') throw live.#error;
            if (position > end) {
              release();
              this.push(null);
              return;
            }
            if (position < live.#written) {
              const file = live.#handle;
              if (!file) throw new Error('LiveOutput closed under a reader');
              const length = Math.min(
                Math.max(size, 64 * 1024),
                live.#written - position,
                end + 1 - position,
                1024 * 1024,
              );
              const buffer = Buffer.allocUnsafe(length);
              const { bytesRead } = await file.read(buffer, 0, length, position);
              position += bytesRead;
              this.push(bytesRead === length ? buffer : buffer.subarray(0, bytesRead));
              return;
            }
            if (live.#state === 'done') {
              release();
              this.push(null);
              return;
            }
            await waitForChange();
          }
        } catch (error) {
          release();
          this.destroy(error as Error);
        }
      },
      destroy(error, callback) {
        release();
        callback(error);
      },
    });
  }
}
