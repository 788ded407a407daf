import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { startProcess } from '../media/runner.js';
import type { WritableOrigin } from '../origin/types.js';
import { recordingRemuxArgs } from './ladder.js';

/** Longest a remux of a recording may take (it copies, so minutes cover hours of media). */
const REMUX_TIMEOUT_MS = 10 * 60_000;

/** `v/recordings` + `launch` + start time -> `v/recordings/launch-20261202T070000Z.mp4`. */
export function recordingPath(prefix: string, name: string, startedAt: number): string {
  const stamp = new Date(startedAt)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  const folder = prefix.replace(/^\/+|\/+$/g, '');
  return folder ? `${folder}/${name}-${stamp}.mp4` : `${name}-${stamp}.mp4`;
}

/**
 * Turns a stream's recorded FLV into an MP4 with its index up front (a remux, no re-encode) and
 * writes it into the origin through the origin's write side, so it is a source like any other.
 * Returns the origin path written.
 */
export async function storeRecording(options: {
  ffmpegPath: string;
  flvPath: string;
  origin: WritableOrigin;
  target: string;
}): Promise<string> {
  const mp4 = path.join(path.dirname(options.flvPath), 'recording.mp4');
  try {
    const proc = startProcess(options.ffmpegPath, recordingRemuxArgs(options.flvPath, mp4), {
      timeoutMs: REMUX_TIMEOUT_MS,
    });
    proc.stdout.resume();
    await proc.done;
    await options.origin.writer.put(options.target, createReadStream(mp4), { contentType: 'video/mp4' });
    return options.target;
  } finally {
    await rm(mp4, { force: true });
  }
}
