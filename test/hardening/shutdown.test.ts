import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createFfmpegSpy, type FfmpegSpy } from '../support/ffmpeg-spy.js';
import { REAL_FFMPEG } from '../support/ffprobe.js';
import { FIXTURES_DIR, REPO_ROOT } from '../support/fixtures.js';
import { type ProxyProcess, startProxyProcess } from '../support/proxy-process.js';

/**
 * Graceful stop and crash recovery of the real server process (`node --import tsx src/index.ts`):
 * SIGTERM fails readiness at once, exits within the bound, leaves no ffmpeg alive and no encode
 * in progress on disk; kill -9 mid-encode leaves a partial file that a restart removes and never
 * serves. Bad configuration exits non-zero naming every bad variable.
 */

/** Grace the server gives running jobs after SIGTERM (src/index.ts), plus slack for killing and exiting. */
const EXIT_BOUND_MS = 10_000 + 5000;

let dir: string;
let slowFfmpeg: FfmpegSpy;
const children: ChildProcess[] = [];

/** Every process's pid and command line. */
function processTable(): Array<{ pid: number; ppid: number; args: string }> {
  return execFileSync('ps', ['-eo', 'pid=,ppid=,stat=,args='])
    .toString()
    .split('\n')
    .map((line) => /^\s*(\d+)\s+(\d+)\s+(\S+)\s+(.*)$/.exec(line))
    .filter((match): match is RegExpExecArray => match !== null && !match[3]!.startsWith('Z'))
    .map((match) => ({ pid: Number(match[1]), ppid: Number(match[2]), args: match[4]! }));
}

/** Starts the server as `npm start` would (through tsx) on an ephemeral port; afterAll kills it if still alive. */
async function startServer(env: Record<string, string>): Promise<ProxyProcess> {
  const server = await startProxyProcess(env, { startTimeoutMs: 20_000 });
  children.push(server.child);
  return server;
}

/** ffmpeg processes the server started (its direct children), with their command lines. */
async function waitForFfmpeg(server: ProxyProcess): Promise<Array<{ pid: number; args: string }>> {
  for (let i = 0; i < 200; i++) {
    const found = processTable().filter(
      (row) =>
        row.ppid === server.child.pid &&
        /ffmpeg/.test(row.args) &&
        /-i http:\/\/127\.0\.0\.1:\d+\/s\//.test(row.args),
    );
    if (found.length > 0) return found;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`no ffmpeg started:\n${server.output()}`);
}

/** Starts a long transform and reads its first bytes, so an encode is running and streaming. */
async function startLongTransform(server: ProxyProcess, abort: AbortController): Promise<Response> {
  const response = await fetch(`${server.url}/long.mp4?tr=w-320`, { signal: abort.signal });
  expect(response.status).toBe(200);
  expect(response.headers.get('x-cache')).toBe('MISS-STREAMING');
  const reader = response.body!.getReader();
  const first = await reader.read();
  expect(first.done).toBe(false);
  // Keep draining in the background; the stream ends (or errors) when the server stops.
  void (async () => {
    try {
      while (!(await reader.read()).done) {}
    } catch {}
  })();
  return response;
}

/** The source endpoint prefix (`http://127.0.0.1:<port>/s/`) in an ffmpeg command line. */
function loopbackPrefix(args: string): string {
  return /http:\/\/127\.0\.0\.1:\d+\/s\//.exec(args)![0];
}

async function gone(pids: number[], ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const alive = new Set(processTable().map((row) => row.pid));
    if (pids.every((pid) => !alive.has(pid))) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ikvp-shutdown-'));
  await mkdir(path.join(dir, 'origin'));
  // 60 s of video (sample.mp4 five times, stream copied: instant to make).
  execFileSync(REAL_FFMPEG, [
    '-v',
    'error',
    '-y',
    '-stream_loop',
    '4',
    '-i',
    path.join(FIXTURES_DIR, 'sample.mp4'),
    '-c',
    'copy',
    path.join(dir, 'origin', 'long.mp4'),
  ]);
  // The real ffmpeg, reading its input at native speed (-re), so an encode lasts as long as the video.
  slowFfmpeg = await createFfmpegSpy({ realtime: true });
});

afterAll(async () => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  if (dir) await rm(dir, { recursive: true, force: true, maxRetries: 5 });
  await slowFfmpeg?.remove();
});

describe('the server process', () => {
  test('SIGTERM during an encode: readiness fails at once, exit within the bound, no ffmpeg survives, live/ is empty', async () => {
    const cacheDir = path.join(dir, 'cache-term');
    const server = await startServer({
      ORIGIN: path.join(dir, 'origin'),
      CACHE_DIR: cacheDir,
      FFMPEG_PATH: slowFfmpeg.path,
    });
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
    const abort = new AbortController();
    await startLongTransform(server, abort);
    const ffmpeg = await waitForFfmpeg(server);
    const prefix = loopbackPrefix(ffmpeg[0]!.args);
    expect((await readdir(path.join(cacheDir, 'live'))).length).toBeGreaterThan(0);

    const signalled = Date.now();
    server.child.kill('SIGTERM');
    // Readiness fails at once: a 503 from /readyz, or no listener at all. The signal reaches the
    // child asynchronously, so poll briefly rather than race the very first request against it.
    let readiness: number | string = 200;
    while (readiness === 200 && Date.now() - signalled < 1000) {
      readiness = await fetch(`${server.url}/readyz`).then(
        (response) => response.status,
        () => 'refused',
      );
      if (readiness === 200) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect([503, 'refused']).toContain(readiness);
    expect(Date.now() - signalled).toBeLessThan(1000);

    const exit = await Promise.race([
      server.exited,
      new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), EXIT_BOUND_MS)),
    ]);
    abort.abort();
    expect(exit, server.output()).not.toBe('timeout');
    expect(exit).toMatchObject({ code: 0 });
    expect(Date.now() - signalled).toBeLessThan(EXIT_BOUND_MS);
    expect(server.output()).toMatch(/shutting down/);

    expect(
      await gone(
        ffmpeg.map((row) => row.pid),
        2000,
      ),
    ).toBe(true);
    expect(processTable().filter((row) => row.args.includes(prefix))).toEqual([]);
    const leftovers = await readdir(path.join(cacheDir, 'live')).catch(() => []);
    expect(leftovers).toEqual([]);
  }, 45_000);

  test('kill -9 during an encode: the restart removes the partial file and never serves it', async () => {
    const cacheDir = path.join(dir, 'cache-kill');
    const env = { ORIGIN: path.join(dir, 'origin'), CACHE_DIR: cacheDir };
    const crashed = await startServer({ ...env, FFMPEG_PATH: slowFfmpeg.path });
    const abort = new AbortController();
    await startLongTransform(crashed, abort);
    const ffmpeg = await waitForFfmpeg(crashed);
    const partial = await readdir(path.join(cacheDir, 'live'));
    expect(partial.length).toBeGreaterThan(0);
    crashed.child.kill('SIGKILL');
    await crashed.exited;
    abort.abort();
    // The orphaned ffmpeg loses its source and its stdout with the process; it must not linger.
    expect(
      await gone(
        ffmpeg.map((row) => row.pid),
        5000,
      ),
    ).toBe(true);
    // The partial encode is still on disk until a restart.
    expect(await readdir(path.join(cacheDir, 'live'))).toEqual(partial);

    const restarted = await startServer({ ...env, FFMPEG_PATH: slowFfmpeg.path });
    try {
      const live = await readdir(path.join(cacheDir, 'live')).catch(() => []);
      for (const name of partial) expect(live).not.toContain(name);
      // The same URL is a new encode, never the partial file as a hit.
      const again = new AbortController();
      const response = await fetch(`${restarted.url}/long.mp4?tr=w-320`, { signal: again.signal });
      expect(response.status).toBe(200);
      expect(response.headers.get('x-cache')).toBe('MISS-STREAMING');
      again.abort();
      restarted.child.kill('SIGTERM');
      const exit = await Promise.race([
        restarted.exited,
        new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), EXIT_BOUND_MS)),
      ]);
      expect(exit, restarted.output()).toMatchObject({ code: 0 });
    } finally {
      if (restarted.child.exitCode === null) restarted.child.kill('SIGKILL');
    }
  }, 50_000);

  test('several bad settings: every bad variable is named and the exit status is non-zero', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/index.ts'], {
      cwd: REPO_ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        PORT: 'eighty',
        MAX_JOBS: '0',
        LOG_LEVEL: 'loud',
        CACHE_MAX_BYTES: '10 parsecs',
        REQUIRE_SIGNED_URLS: 'maybe',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const code = await new Promise<number | null>((resolve) =>
      child.once('exit', (exitCode) => resolve(exitCode)),
    );
    expect(code).not.toBe(0);
    expect(code).toBe(78);
    for (const variable of ['PORT', 'MAX_JOBS', 'LOG_LEVEL', 'CACHE_MAX_BYTES', 'REQUIRE_SIGNED_URLS'])
      expect(stderr).toContain(variable);
    expect(stderr).not.toMatch(/listening/);
  }, 30_000);
});
