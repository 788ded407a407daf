import { OriginTimeoutError, type ProxyError } from '../errors.js';
import { ORIGIN_MESSAGES } from './messages.js';

/** How `callWithDeadline` bounds and translates one SDK call of an object-store adapter. */
export interface DeadlineOptions {
  /** The caller's signal: its reason is rethrown as is when it aborts. */
  signal?: AbortSignal;
  timeoutMs: number;
  /** The log-only detail of a timeout (which bucket or container). */
  timeoutDetail: () => string;
  /** Turns the backend's error into the adapter's typed error. */
  translate: (error: unknown) => ProxyError;
}

/**
 * Runs one SDK call under the origin timeout and the caller's signal (S3 and Azure adapters). The
 * deadline covers the answer only: once `call` resolves the timer stops, so a long body keeps
 * streaming (its silences are bounded by the client's socket timeout instead). A caller's abort
 * rethrows the caller's reason, the deadline an `OriginTimeoutError`, anything else `translate`d.
 */
export async function callWithDeadline<T>(
  call: (abortSignal: AbortSignal) => Promise<T>,
  options: DeadlineOptions,
): Promise<T> {
  const { signal } = options;
  signal?.throwIfAborted();
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), options.timeoutMs);
  const combined = signal ? AbortSignal.any([signal, deadline.signal]) : deadline.signal;
  try {
    return await call(combined);
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    if (deadline.signal.aborted)
      throw new OriginTimeoutError(ORIGIN_MESSAGES.timeout, {
        cause: error,
        detail: options.timeoutDetail(),
      });
    throw options.translate(error);
  } finally {
    clearTimeout(timer);
  }
}
