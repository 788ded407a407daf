import { OverloadedError } from '../errors.js';

/** Counters the limiter exposes for metrics. */
export interface LimiterStats {
  running: number;
  queued: number;
  rejected: number;
}

/** Job priority: viewers waiting come before background prefetch. */
export type Priority = 'high' | 'low';

interface Waiter {
  resolve(): void;
  reject(error: unknown): void;
}

/**
 * Bounds the number of ffmpeg jobs. Two layers, as imgproxy does: a job that finds the queue full
 * is rejected at once with 503 + Retry-After; otherwise it waits for a free slot. Low-priority
 * jobs (prefetch) start only on an idle slot, never queue, and are aborted when a viewer's job
 * would otherwise have to wait, so they cannot starve viewers.
 */
export class JobLimiter {
  readonly #maxRunning: number;
  readonly #maxQueue: number;
  #running = 0;
  #rejected = 0;
  readonly #waiting: Waiter[] = [];
  readonly #lowRunning = new Set<AbortController>();

  constructor(maxRunning: number, maxQueue: number) {
    this.#maxRunning = maxRunning;
    this.#maxQueue = maxQueue;
  }

  /**
   * Runs `job` when a slot is free; throws `OverloadedError` when the queue is full. The job gets
   * a signal that aborts when `signal` does or, for low priority, when a viewer needs the slot.
   * Aborting `signal` while queued leaves the queue.
   */
  async run<T>(
    job: (signal: AbortSignal) => Promise<T>,
    priority: Priority = 'high',
    signal?: AbortSignal,
  ): Promise<T> {
    await this.#acquire(priority, signal);
    const controller = new AbortController();
    const forward = () => controller.abort(signal?.reason);
    signal?.addEventListener('abort', forward, { once: true });
    if (priority === 'low') this.#lowRunning.add(controller);
    try {
      return await job(controller.signal);
    } finally {
      signal?.removeEventListener('abort', forward);
      this.#lowRunning.delete(controller);
      this.#release();
    }
  }

  /** True when a low-priority job would start right now. */
  hasIdleSlot(): boolean {
    return this.#running < this.#maxRunning && this.#waiting.length === 0;
  }

  stats(): LimiterStats {
    return { running: this.#running, queued: this.#waiting.length, rejected: this.#rejected };
  }

  async #acquire(priority: Priority, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    if (this.#running < this.#maxRunning && this.#waiting.length === 0) {
      this.#running++;
      return;
    }
    if (priority === 'low' || this.#waiting.length >= this.#maxQueue) {
      this.#rejected++;
      throw new OverloadedError(this.#retryAfterSeconds());
    }
    // A viewer has to wait: give it the slot of a prefetch instead.
    const preempted = this.#lowRunning.values().next().value;
    if (preempted) {
      this.#lowRunning.delete(preempted);
      preempted.abort(new OverloadedError(1));
    }
    await new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject };
      this.#waiting.push(waiter);
      signal?.addEventListener(
        'abort',
        () => {
          const index = this.#waiting.indexOf(waiter);
          if (index >= 0) {
            this.#waiting.splice(index, 1);
            reject(signal.reason);
          }
        },
        { once: true },
      );
    });
  }

  #release(): void {
    const next = this.#waiting.shift();
    // Hand the slot straight to the next waiter so nobody can overtake the queue.
    if (next) next.resolve();
    else this.#running--;
  }

  #retryAfterSeconds(): number {
    return Math.min(30, 1 + Math.ceil(this.#waiting.length / Math.max(1, this.#maxRunning)));
  }
}
