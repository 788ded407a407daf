import { RenderError } from '../errors.js';

interface Flight<T> {
  promise: Promise<T>;
  controller: AbortController;
  /** Requesters still waiting that can go away (they passed a signal). */
  waiters: number;
  /** Someone who cannot go away wants the result (a background task): never cancel. */
  pinned: boolean;
}

/**
 * Coalesces identical work: while a job for a key is running, every caller for that key gets the
 * same promise. The job runs detached from any one caller, so a caller that goes away does not
 * cancel it for the others (nor its write to the cache); only when every caller that passed a
 * signal has gone, and nobody else pinned it, is the job's own signal aborted.
 */
export class SingleFlight<T> {
  readonly #inflight = new Map<string, Flight<T>>();
  readonly #cancelGraceMs: number;

  /**
   * @param cancelGraceMs how long a job nobody waits for keeps running before it is cancelled,
   *   so a requester that arrives a moment later (a retry, a player's next request) still joins it.
   */
  constructor(cancelGraceMs = 0) {
    this.#cancelGraceMs = cancelGraceMs;
  }

  /**
   * Runs `work` for `key` unless it is already running, and returns the shared result. `waiter`
   * is the caller's own signal (e.g. the HTTP request's); without one the caller pins the job.
   */
  run(key: string, work: (signal: AbortSignal) => Promise<T>, waiter?: AbortSignal): Promise<T> {
    let flight = this.#inflight.get(key);
    if (!flight) {
      const controller = new AbortController();
      const created: Flight<T> = {
        controller,
        waiters: 0,
        pinned: false,
        promise: Promise.resolve() as Promise<T>,
      };
      created.promise = (async () => {
        try {
          return await work(controller.signal);
        } finally {
          this.#inflight.delete(key);
        }
      })();
      this.#inflight.set(key, created);
      flight = created;
    }
    if (!waiter) {
      flight.pinned = true;
      return flight.promise;
    }
    const joined = flight;
    joined.waiters++;
    const cancelIfAbandoned = () => {
      if (joined.waiters === 0 && !joined.pinned)
        joined.controller.abort(new RenderError('Cancelled: every requester left'));
    };
    const leave = () => {
      joined.waiters--;
      if (joined.waiters > 0 || joined.pinned) return;
      if (this.#cancelGraceMs > 0) setTimeout(cancelIfAbandoned, this.#cancelGraceMs).unref();
      else cancelIfAbandoned();
    };
    if (waiter.aborted) leave();
    else {
      waiter.addEventListener('abort', leave, { once: true });
      joined.promise.then(
        () => waiter.removeEventListener('abort', leave),
        () => waiter.removeEventListener('abort', leave),
      );
    }
    return joined.promise;
  }

  /** The promise for a key that is running now, if any. */
  peek(key: string): Promise<T> | undefined {
    return this.#inflight.get(key)?.promise;
  }

  /** Number of distinct keys running. */
  get size(): number {
    return this.#inflight.size;
  }
}
