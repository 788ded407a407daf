import { scanMp4 } from './mp4.js';
import { scanWebm } from './webm.js';

/**
 * Stamps the final duration into the header of a video that is streamed while it is encoded.
 *
 * ffmpeg writing to a pipe cannot seek back, so a fragmented MP4 starts with a `moov` whose
 * `mvhd` duration is 0 and which has no `mehd`, and a WebM starts with a Segment `Info` that has
 * no `Duration`. A browser shown such a stream treats it as growing (the duration creeps up as
 * fragments arrive; seeking ahead is impossible). The proxy knows the output's length before the
 * encode starts (probe + trim), so it rewrites that header on its way out: the stamp buffers
 * only until the header is complete, rewrites it, and passes every later byte through untouched
 * (same Buffer objects, no copies). Anything it does not recognise, or a header larger than
 * `maxHeaderBytes`, is passed through unchanged: a missing duration is better than a broken file.
 *
 * Pure (no I/O): bytes in, bytes out.
 */

/** Containers the stamp understands: what `src/media/video-argv.ts` streams. */
export type StampContainer = 'mp4' | 'webm';

/** Most bytes held back while waiting for a complete header before giving up. */
export const MAX_STAMP_HEADER_BYTES = 1024 * 1024;

/** Where a stamp stands: still buffering, header rewritten, or passing through unchanged. */
export type StampState =
  | { kind: 'buffering' }
  | { kind: 'stamped'; headerBytes: number; growth: number }
  | { kind: 'unchanged'; reason: string };

/** A streaming rewriter; feed it every chunk in order, then call `end()` once. */
export interface DurationStamp {
  /** Takes the next chunk; returns the bytes to emit now (possibly none while buffering). */
  push(chunk: Buffer): Buffer[];
  /** The stream ended: returns whatever is still held back (unchanged if the header never completed). */
  end(): Buffer[];
  /** What the stamp did so far, for logs and tests. */
  readonly state: StampState;
}

/** Options for `createDurationStamp`. */
export interface DurationStampOptions {
  /** Give up (and pass bytes through) once this many bytes are held without a complete header. */
  maxHeaderBytes?: number;
}

/**
 * A stamp that writes `seconds` as the duration of a streamed `container`. A duration that is
 * not a positive finite number (the source's length is unknown) yields a pass-through stamp.
 */
export function createDurationStamp(
  container: StampContainer,
  seconds: number,
  options: DurationStampOptions = {},
): DurationStamp {
  const limit = options.maxHeaderBytes ?? MAX_STAMP_HEADER_BYTES;
  const scan = container === 'mp4' ? scanMp4 : scanWebm;
  let state: StampState =
    Number.isFinite(seconds) && seconds > 0
      ? { kind: 'buffering' }
      : { kind: 'unchanged', reason: 'duration unknown' };
  let held: Buffer[] = [];
  let heldBytes = 0;

  const release = (): Buffer[] => {
    const out = held;
    held = [];
    heldBytes = 0;
    return out;
  };

  return {
    get state() {
      return state;
    },
    push(chunk) {
      if (state.kind !== 'buffering') return chunk.length ? [chunk] : [];
      if (chunk.length === 0) return [];
      held.push(chunk);
      heldBytes += chunk.length;
      const buffered = held.length === 1 ? chunk : Buffer.concat(held, heldBytes);
      held = [buffered];
      const result = scan(buffered.subarray(0, Math.min(buffered.length, limit)), seconds, limit);
      if (result.kind === 'done') {
        state = {
          kind: 'stamped',
          headerBytes: result.headerEnd,
          growth: result.header.length - result.headerEnd,
        };
        release();
        const rest = buffered.subarray(result.headerEnd);
        return rest.length ? [result.header, rest] : [result.header];
      }
      if (result.kind === 'skip') {
        state = { kind: 'unchanged', reason: result.reason };
        return release();
      }
      if (heldBytes >= limit) {
        state = { kind: 'unchanged', reason: `header longer than ${limit} bytes` };
        return release();
      }
      return [];
    },
    end() {
      if (state.kind === 'buffering') state = { kind: 'unchanged', reason: 'stream ended inside the header' };
      return release();
    },
  };
}
