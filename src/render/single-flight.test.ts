import { describe, expect, test } from 'vitest';
import { SingleFlight } from './single-flight.js';

function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe('SingleFlight', () => {
  test('identical concurrent calls share one run and its result', async () => {
    const flight = new SingleFlight<number>();
    let runs = 0;
    const gate = deferred<void>();
    const work = async () => {
      runs++;
      await gate.promise;
      return 42;
    };
    const calls = Array.from({ length: 20 }, () => flight.run('k', work));
    expect(flight.size).toBe(1);
    gate.resolve();
    expect(await Promise.all(calls)).toEqual(Array(20).fill(42));
    expect(runs).toBe(1);
    expect(flight.size).toBe(0);
  });

  test('one waiter leaving does not cancel the job for another', async () => {
    const flight = new SingleFlight<string>();
    const gate = deferred<void>();
    let seen: AbortSignal | undefined;
    const work = async (signal: AbortSignal) => {
      seen = signal;
      await gate.promise;
      return 'done';
    };
    const leaver = new AbortController();
    const first = flight.run('k', work, leaver.signal).catch(() => 'left');
    const second = flight.run('k', work, new AbortController().signal);
    leaver.abort();
    gate.resolve();
    expect(await second).toBe('done');
    expect(await first).toBe('done');
    expect(seen?.aborted).toBe(false);
  });

  test('the job is cancelled once every waiter left, after the grace', async () => {
    const flight = new SingleFlight<string>(30);
    let seen: AbortSignal | undefined;
    const work = (signal: AbortSignal) =>
      new Promise<string>((_, reject) => {
        seen = signal;
        signal.addEventListener('abort', () => reject(signal.reason));
      });
    const a = new AbortController();
    const b = new AbortController();
    const results = [flight.run('k', work, a.signal), flight.run('k', work, b.signal)].map((p) =>
      p.catch((e: Error) => e.message),
    );
    a.abort();
    b.abort();
    expect(seen?.aborted).toBe(false);
    expect(await Promise.all(results)).toEqual([
      'Cancelled: every requester left',
      'Cancelled: every requester left',
    ]);
    expect(seen?.aborted).toBe(true);
  });

  test('a caller without a signal pins the job', async () => {
    const flight = new SingleFlight<string>();
    const gate = deferred<void>();
    let seen: AbortSignal | undefined;
    const work = async (signal: AbortSignal) => {
      seen = signal;
      await gate.promise;
      return 'kept';
    };
    const viewer = new AbortController();
    const pinned = flight.run('k', work);
    const viewed = flight.run('k', work, viewer.signal);
    viewer.abort();
    gate.resolve();
    expect(await pinned).toBe('kept');
    expect(await viewed).toBe('kept');
    expect(seen?.aborted).toBe(false);
  });
});
