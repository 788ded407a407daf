/**
 * Coalesces identical work: while a job for a key is running, every caller for that key gets the
 * same promise. The job runs detached from any one caller, so a caller that goes away does not
 * cancel it for the others (nor its write to the cache).
 */
export class SingleFlight<T> {
  readonly #inflight = new Map<string, Promise<T>>();

  /** Runs `work` for `key` unless it is already running, and returns the shared result. */
  run(key: string, work: () => Promise<T>): Promise<T> {
    const existing = this.#inflight.get(key);
    if (existing) return existing;
    const promise = (async () => {
      try {
        return await work();
      } finally {
        this.#inflight.delete(key);
      }
    })();
    this.#inflight.set(key, promise);
    return promise;
  }

  /** The promise for a key that is running now, if any. */
  peek(key: string): Promise<T> | undefined {
    return this.#inflight.get(key);
  }

  /** Number of distinct keys running. */
  get size(): number {
    return this.#inflight.size;
  }
}
