import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import http from 'node:http';
import net from 'node:net';

/** Median of a non-empty list (mean of the two middle values for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A TCP port that was free on 127.0.0.1 a moment ago (for servers that cannot report their own). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Outcome of one finished command. */
export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Wall-clock milliseconds from spawn to exit. */
  ms: number;
}

/**
 * Runs a command to completion under a hard time limit (the process is killed when it passes,
 * so no scenario can hang the bench).
 */
export function runCommand(
  command: string,
  args: readonly string[],
  timeoutMs = 300_000,
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (stderr.length < 64_000) stderr += chunk.toString('utf8');
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: performance.now() - started });
    });
  });
}

/** Timing of a command whose stdout is the product (an encode to `pipe:1`). */
export interface StreamedCommandResult {
  /** Milliseconds from spawn to the first stdout byte. */
  firstByteMs: number;
  ms: number;
  bytes: number;
}

/**
 * Runs a command whose stdout is its output, writing it to `outputFile`, and times the first
 * stdout byte and the exit: the raw-ffmpeg counterpart of a streamed HTTP response.
 */
export function runStreamed(
  command: string,
  args: readonly string[],
  outputFile: string,
  timeoutMs = 300_000,
): Promise<StreamedCommandResult> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const sink = createWriteStream(outputFile);
    let firstByteMs: number | undefined;
    let bytes = 0;
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      firstByteMs ??= performance.now() - started;
      bytes += chunk.length;
    });
    child.stdout.pipe(sink);
    child.stderr.on('data', (chunk: Buffer) => {
      if (stderr.length < 64_000) stderr += chunk.toString('utf8');
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      const ms = performance.now() - started;
      if (code !== 0) reject(new Error(`${command} exited with ${code}:\n${stderr.slice(-2000)}`));
      else sink.end(() => resolve({ firstByteMs: firstByteMs ?? ms, ms, bytes }));
    });
  });
}

/** Like `runCommand`, but a non-zero exit is an error carrying stderr. */
export async function mustRun(
  command: string,
  args: readonly string[],
  timeoutMs?: number,
): Promise<CommandResult> {
  const result = await runCommand(command, args, timeoutMs);
  if (result.code !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} exited with ${result.code}:\n${result.stderr.slice(-2000)}`,
    );
  }
  return result;
}

/** One HTTP exchange as the client saw it. */
export interface TimedResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** Milliseconds until the first body byte (or the end, for an empty body). */
  firstByteMs: number;
  /** Milliseconds until the last body byte. */
  totalMs: number;
  bytes: number;
  /** The body, when asked for. */
  body?: Buffer;
}

/**
 * GET on a fresh connection, timing the first body byte and the end. The body is counted and
 * dropped unless `keepBody` (a streamed transcode can be large).
 */
export function timedGet(
  url: string,
  options: { headers?: Record<string, string>; keepBody?: boolean; timeoutMs?: number } = {},
): Promise<TimedResponse> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const request = http.get(url, { agent: false, headers: options.headers ?? {} }, (response) => {
      let firstByteMs: number | undefined;
      let bytes = 0;
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => {
        firstByteMs ??= performance.now() - started;
        bytes += chunk.length;
        if (options.keepBody) chunks.push(chunk);
      });
      response.on('end', () => {
        const totalMs = performance.now() - started;
        resolve({
          status: response.statusCode ?? 0,
          headers: response.headers,
          firstByteMs: firstByteMs ?? totalMs,
          totalMs,
          bytes,
          body: options.keepBody ? Buffer.concat(chunks) : undefined,
        });
      });
      response.on('error', reject);
    });
    request.setTimeout(options.timeoutMs ?? 300_000, () =>
      request.destroy(new Error(`GET ${url} timed out`)),
    );
    request.on('error', reject);
  });
}

/** Formats milliseconds for the table: `850 ms` or `12.3 s`. */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  return ms >= 10_000
    ? `${(ms / 1000).toFixed(1)} s`
    : ms >= 1000
      ? `${(ms / 1000).toFixed(2)} s`
      : `${Math.round(ms)} ms`;
}

/** Formats a byte count with binary units. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value >= 100 || unit === 0 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
}
