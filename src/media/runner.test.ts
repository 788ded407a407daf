import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ProxyError } from '../errors.js';
import { killAllChildren, liveChildCount, liveChildPids, runToBuffer, startProcess } from './runner.js';

/** True while a process with this pid exists (signal 0 only checks). Zombies are reaped by init. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const state = execFileSync('ps', ['-o', 'stat=', '-p', String(pid)])
      .toString()
      .trim();
    return state !== '' && !state.startsWith('Z');
  } catch {
    return false;
  }
}

async function waitFor(condition: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return condition();
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ikvp-runner-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/**
 * A shell that starts a grandchild `sleep` in the background (writing its pid to a file), then
 * runs `leaderSleeps`. The grandchild holds stdout, as a wrapper script's ffmpeg would.
 */
function familyScript(pidFile: string, leaderSleeps: string): string[] {
  return ['-c', `sleep 60 & echo $! > ${pidFile}; ${leaderSleeps}`];
}

async function readPid(file: string): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const text = await readFile(file, 'utf8').catch(() => '');
    if (/^\d+\s*$/.test(text)) return Number(text);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`no pid in ${file}`);
}

describe('runner', () => {
  test('collects stdout and resolves on exit 0', async () => {
    expect((await runToBuffer('sh', ['-c', 'printf hello'], { timeoutMs: 5000 })).toString()).toBe('hello');
  });

  test('a non-zero exit is a RenderError carrying the stderr tail', async () => {
    const failure = await runToBuffer('sh', ['-c', 'echo boom >&2; exit 3'], { timeoutMs: 5000 }).catch(
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(ProxyError);
    expect((failure as ProxyError).status).toBe(500);
    expect(JSON.stringify(failure)).toContain('boom');
  });

  test('a missing binary is a RenderError naming FFMPEG_PATH and the path in its log detail only', async () => {
    const failure = await runToBuffer('/nonexistent/ffmpeg', [], { timeoutMs: 5000 }).catch(
      (error: unknown) => error,
    );
    expect((failure as ProxyError).detail).toMatch(/\/nonexistent\/ffmpeg.*FFMPEG_PATH/);
    expect((failure as ProxyError).message).not.toMatch(/FFMPEG|nonexistent/);
    expect(liveChildCount()).toBe(0);
  });

  test('the wall-clock timeout kills the whole process group (grandchildren too) and is a 504', async () => {
    const pidFile = path.join(dir, 'timeout.pid');
    const started = Date.now();
    const failure = await runToBuffer('sh', familyScript(pidFile, 'sleep 60'), { timeoutMs: 400 }).catch(
      (error: unknown) => error,
    );
    expect(Date.now() - started).toBeLessThan(5000);
    expect((failure as ProxyError).status).toBe(504);
    expect((failure as ProxyError).code).toBe('job_timeout');
    const grandchild = await readPid(pidFile);
    expect(await waitFor(() => !alive(grandchild), 3000)).toBe(true);
    expect(liveChildCount()).toBe(0);
  });

  test('aborting kills the group even after the leader itself has exited', async () => {
    const pidFile = path.join(dir, 'abort.pid');
    const abort = new AbortController();
    // The leader exits at once; the grandchild keeps stdout open, so the child has not "closed".
    const proc = startProcess('sh', familyScript(pidFile, 'exit 0'), {
      timeoutMs: 30_000,
      signal: abort.signal,
    });
    proc.stdout.resume();
    const grandchild = await readPid(pidFile);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(alive(grandchild)).toBe(true);
    abort.abort(new Error('viewer left'));
    await expect(proc.done).rejects.toBeInstanceOf(ProxyError);
    expect(await waitFor(() => !alive(grandchild), 3000)).toBe(true);
  });

  test('killAllChildren reaps every child and grandchild, even ones ignoring SIGTERM', async () => {
    const pids: string[] = [];
    const runs = [0, 1, 2].map((index) => {
      const pidFile = path.join(dir, `all-${index}.pid`);
      pids.push(pidFile);
      const stubborn = index === 2 ? "trap '' TERM; " : '';
      const proc = startProcess('sh', ['-c', `${stubborn}sleep 60 & echo $! > ${pidFile}; wait`], {
        timeoutMs: 60_000,
      });
      proc.stdout.resume();
      return proc;
    });
    const grandchildren = await Promise.all(pids.map(readPid));
    expect(liveChildCount()).toBe(3);
    const leaders = liveChildPids();
    expect(leaders).toHaveLength(3);
    const started = Date.now();
    await killAllChildren(300);
    expect(Date.now() - started).toBeLessThan(4000);
    expect(liveChildCount()).toBe(0);
    for (const run of runs) await expect(run.done).rejects.toBeInstanceOf(ProxyError);
    for (const pid of [...leaders, ...grandchildren]) expect(alive(pid), `pid ${pid} survived`).toBe(false);
  });
});
