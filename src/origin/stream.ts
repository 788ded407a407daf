import { Readable } from 'node:stream';
import { OriginError } from '../errors.js';

/** How `windowStream` cuts and checks a backend's body. */
export interface WindowOptions {
  /** Bytes to drop from the front (a server that ignored `Range`). */
  skip?: number;
  /** Bytes to deliver at most; the stream errors with `OriginError` if the body ends before that. */
  length?: number;
  /** When false, a body that ends before `length` is a short file rather than a truncation. */
  exact?: boolean;
  /** Turns a backend error met while reading into the error the stream reports. */
  mapError: (error: unknown) => Error;
}

/**
 * A byte stream over `source` that skips `skip` bytes, stops after `length` bytes (destroying
 * the rest of the body rather than reading it) and errors with `OriginError` when the body ends
 * short, so a truncated origin response never passes for a complete one. Destroying the returned
 * stream destroys `source` at once, even while a read is pending.
 */
export function windowStream(source: Readable, options: WindowOptions): Readable {
  const { skip = 0, length, exact = true, mapError } = options;
  async function* window(): AsyncGenerator<Buffer> {
    let toSkip = skip;
    let remaining = length;
    let delivered = 0;
    if (remaining === 0) {
      source.destroy();
      return;
    }
    try {
      for await (const chunk of source) {
        let bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
        if (toSkip > 0) {
          if (bytes.length <= toSkip) {
            toSkip -= bytes.length;
            continue;
          }
          bytes = bytes.subarray(toSkip);
          toSkip = 0;
        }
        if (remaining !== undefined) {
          if (bytes.length >= remaining) {
            yield bytes.subarray(0, remaining);
            return;
          }
          remaining -= bytes.length;
        }
        delivered += bytes.length;
        yield bytes;
      }
    } catch (error) {
      throw mapError(error);
    }
    if (toSkip > 0 || (exact && remaining !== undefined && remaining > 0)) {
      const expected = length === undefined ? 'more' : String(length);
      throw new OriginError(`Origin response ended early: got ${delivered} of ${expected} bytes`);
    }
  }
  // Errors reach the reader through the iterator; a destroy after the last byte must not go unhandled.
  source.on('error', () => undefined);
  const out = Readable.from(window(), { objectMode: false, highWaterMark: 64 * 1024 });
  out.once('close', () => {
    if (!source.destroyed) source.destroy();
  });
  return out;
}
