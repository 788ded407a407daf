import { describe, expect, test } from 'vitest';
import { OverloadedError } from '../errors.js';
import { JobLimiter } from './limiter.js';

const never = (signal: AbortSignal) =>
  new Promise<string>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));

describe('JobLimiter', () => {
  test('never runs more than maxRunning jobs at once and rejects past maxQueue with 503', async () => {
    const limiter = new JobLimiter(2, 1);
    let running = 0;
    let peak = 0;
    const release: Array<() => void> = [];
    const job = () =>
      new Promise<void>((resolve) => {
        running++;
        peak = Math.max(peak, running);
        release.push(() => {
          running--;
          resolve();
        });
      });
    const accepted = [limiter.run(job), limiter.run(job), limiter.run(job)];
    await expect(limiter.run(job)).rejects.toBeInstanceOf(OverloadedError);
    expect(limiter.stats()).toEqual({ running: 2, queued: 1, rejected: 1 });
    while (release.length > 0 || running > 0) {
      release.shift()?.();
      await new Promise((r) => setTimeout(r, 1));
    }
    await Promise.all(accepted);
    expect(peak).toBe(2);
    expect(limiter.stats().running).toBe(0);
  });

  test('Overloaded carries Retry-After', async () => {
    const limiter = new JobLimiter(1, 0);
    const running = limiter.run(never, 'high', AbortSignal.timeout(200)).catch(() => undefined);
    const error = await limiter.run(async () => 'x').catch((e: OverloadedError) => e);
    expect(error).toBeInstanceOf(OverloadedError);
    expect((error as OverloadedError).headers['Retry-After']).toMatch(/^\d+$/);
    await running;
  });

  test('a low-priority job never queues and is preempted when a viewer would wait', async () => {
    const limiter = new JobLimiter(1, 4);
    const prefetch = limiter.run(never, 'low').catch((e: unknown) => e);
    await expect(limiter.run(async () => 'x', 'low')).rejects.toBeInstanceOf(OverloadedError);
    const viewer = limiter.run(async () => 'viewer');
    expect(await prefetch).toBeInstanceOf(OverloadedError);
    expect(await viewer).toBe('viewer');
  });

  test('aborting a queued job removes it from the queue', async () => {
    const limiter = new JobLimiter(1, 4);
    const holder = new AbortController();
    const first = limiter.run(never, 'high', holder.signal).catch(() => 'first-aborted');
    const leaving = new AbortController();
    const queued = limiter.run(async () => 'never', 'high', leaving.signal).catch(() => 'left');
    expect(limiter.stats().queued).toBe(1);
    leaving.abort();
    expect(await queued).toBe('left');
    expect(limiter.stats().queued).toBe(0);
    holder.abort();
    expect(await first).toBe('first-aborted');
    expect(limiter.stats().running).toBe(0);
  });
});
