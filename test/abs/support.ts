import { spawnSync } from 'node:child_process';
import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SourceInput } from '../../src/media/argv.js';
import { runPipelineToBuffer } from '../../src/media/runner.js';
import { REAL_FFMPEG } from '../support/ffprobe.js';

/** Helpers for the adaptive-streaming tests: real ffmpeg, generated sources, a loopback range server. */

/** The real ffmpeg (test/support/ffprobe.ts); probing is there too (`probeMediaInfo`, `ffprobeJson`, `ffprobeCsv`). */
export const FFMPEG = REAL_FFMPEG;

/** Runs a command, throwing with its stderr on failure; returns stdout and stderr. */
export function run(command: string, args: string[]): { stdout: Buffer; stderr: string } {
  const result = spawnSync(command, args, { maxBuffer: 256 * 1024 * 1024 });
  if (result.status !== 0)
    throw new Error(`${command} ${args.join(' ')} failed:\n${result.stderr?.toString()}`);
  return { stdout: result.stdout, stderr: result.stderr.toString() };
}

/** A test source: testsrc2 video plus a pure sine tone (so joins in the audio can be checked). */
export function makeSource(
  file: string,
  options: {
    width: number;
    height: number;
    rate: string;
    seconds: number;
    toneHz: number;
    audioRate?: number;
  },
): void {
  run(FFMPEG, [
    '-v',
    'error',
    '-y',
    '-f',
    'lavfi',
    '-i',
    `testsrc2=s=${options.width}x${options.height}:r=${options.rate}:d=${options.seconds}`,
    '-f',
    'lavfi',
    '-i',
    `sine=f=${options.toneHz}:r=${options.audioRate ?? 48000}:d=${options.seconds}`,
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-g',
    '48',
    '-pix_fmt',
    'yuv420p',
    '-c:a',
    'aac',
    '-b:a',
    '192k',
    '-ac',
    '2',
    file,
  ]);
}

/**
 * Serves one file over HTTP on 127.0.0.1 with byte ranges, standing in for the proxy's loopback
 * source endpoint, so the argv under test runs exactly as in production (`-protocol_whitelist http,tcp`).
 */
export async function serveFile(file: string): Promise<{ input: SourceInput; close: () => Promise<void> }> {
  const size = statSync(file).size;
  const server = createServer((req, res) => {
    const match = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? '');
    let start = 0;
    let end = size - 1;
    if (match) {
      if (match[1]) start = Number(match[1]);
      if (match[2]) end = Math.min(Number(match[2]), size - 1);
      if (!match[1] && match[2]) {
        start = Math.max(0, size - Number(match[2]));
        end = size - 1;
      }
    }
    res.statusCode = match ? 206 : 200;
    res.setHeader('Accept-Ranges', 'bytes');
    res.setHeader('Content-Length', String(end - start + 1));
    if (match) res.setHeader('Content-Range', `bytes ${start}-${end}/${size}`);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    createReadStream(file, { start, end }).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    input: { url: `http://127.0.0.1:${port}/source.mp4`, demuxer: 'mov' },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Runs an `AbsPipeline` through the project's runner and returns the final stdout. */
export function runSteps(steps: string[][]): Promise<Buffer> {
  return runPipelineToBuffer(FFMPEG, steps, { timeoutMs: 60_000 });
}
