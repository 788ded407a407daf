import { OverloadedError } from '../errors.js';

/** Counters the limiter exposes for metrics. */
export interface LimiterStats {
  running: number;
  queued: number;
  rejected: number;
}

/** Job priority: viewers waiting come before background prefetch. */
export type Priority = 'high' | 'low';

/**
 * Bounds the number of ffmpeg jobs. Two layers, as imgproxy does: a job that finds the queue full
 * is rejected at once with 503 + Retry-After; otherwise it waits for a free slot. Low-priority
 * jobs (prefetch) only start when no high-priority job is waiting, and are never queued beyond
 * the free slots, so they cannot starve viewers.
 */
export class JobLimiter {
  readonly #maxRunning: number;
  readonly #maxQueue: number;
  #running = 0;
  #rejected = 0;
  readonly #waiting: Array<() => void> = [];

  constructor(maxRunning: number, maxQueue: number) {
    this.#maxRunning = maxRunning;
    this.#maxQueue = maxQueue;
  }

  /** Runs `job` when a slot is free; throws `OverloadedError` when the queue is full. */
  async run<T>(job: () => Promise<T>, priority: Priority = 'high'): Promise<T> {
    await this.#acquire(priority);
    try {
      return await job();
    } finally {
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

  async #acquire(priority: Priority): Promise<void> {
    if (this.#running < this.#maxRunning && this.#waiting.length === 0) {
      this.#running++;
      return;
    }
    if (priority === 'low' || this.#waiting.length >= this.#maxQueue) {
      this.#rejected++;
      throw new OverloadedError(this.#retryAfterSeconds());
    }
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
  }

  #release(): void {
    const next = this.#waiting.shift();
    // Hand the slot straight to the next waiter so nobody can overtake the queue.
    if (next) next();
    else this.#running--;
  }

  #retryAfterSeconds(): number {
    return Math.min(30, 1 + Math.ceil(this.#waiting.length / Math.max(1, this.#maxRunning)));
  }
}
