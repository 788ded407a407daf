import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { REPO_ROOT } from './fixtures.js';

/**
 * The proxy as its own process, started the way `npm start` runs it but from source
 * (`node --import tsx src/index.ts`): for tests of signals, crashes and process-wide limits, and
 * for the bench. In-process tests use `startProxy` (test/support/proxy.ts) instead. Free of
 * vitest so bench/ can import it.
 */

/** Keeps at most this much of a process's output in memory (the end of it). */
const OUTPUT_LIMIT = 1024 * 1024;

/** A proxy process that answered, and how to read and stop it. */
export interface ProxyProcess {
  child: ChildProcess;
  pid: number;
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** stdout and stderr so far, interleaved (the last MiB). */
  output(): string;
  /** Settles when the process exits. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

/** How to start a {@link ProxyProcess}. */
export interface ProxyProcessOptions {
  /** Node options before the script, e.g. `['--cpu-prof']`. */
  nodeArgs?: readonly string[];
  /**
   * A fixed port: the process counts as started once `GET /healthz` answers below 500. Without
   * one it listens on port 0 and is started at its `listening on` log line, which needs
   * LOG_LEVEL info or lower (the default here).
   */
  port?: number;
  /** Also append the output to this file. */
  logFile?: string;
  /** How long it may take to answer (default 30 s). */
  startTimeoutMs?: number;
  /** The checkout whose src/index.ts runs (default this one). */
  cwd?: string;
}

/** Sends SIGTERM (unless the process is gone), SIGKILL after `graceMs`, and resolves when it has exited. */
export async function stopProcess(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/**
 * Polls `url` until it answers below 500; rejects when `child` exits first or after `deadlineMs`.
 * `what` names the server in the error.
 */
export async function waitForHttp(
  url: string,
  child: ChildProcess,
  what: string,
  deadlineMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode} before it answered`);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await response.arrayBuffer();
      if (response.status < 500) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${what} did not answer ${url} within ${deadlineMs / 1000} s`);
}

/**
 * Spawns the proxy with `env` (over PATH, HOME and LOG_LEVEL=info; PORT and HOST are set here,
 * on 127.0.0.1) and waits until it is started (see {@link ProxyProcessOptions.port}). If it
 * never starts it is killed and the error carries its output.
 */
export async function startProxyProcess(
  env: Record<string, string>,
  options: ProxyProcessOptions = {},
): Promise<ProxyProcess> {
  const { nodeArgs = [], port, logFile, startTimeoutMs = 30_000, cwd = REPO_ROOT } = options;
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', 'src/index.ts'], {
    cwd,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      LOG_LEVEL: 'info',
      // See test/support/proxy.ts: standby ffmpeg starts are off unless a test asks for them.
      FFMPEG_STANDBY: '0',
      ...env,
      PORT: String(port ?? 0),
      HOST: '127.0.0.1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (logFile) appendFileSync(logFile, '');
  let output = '';
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
    if (output.length > OUTPUT_LIMIT) output = output.slice(-OUTPUT_LIMIT);
    if (logFile) appendFileSync(logFile, chunk);
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const started = (url: string): ProxyProcess => ({
    child,
    pid: child.pid!,
    url,
    output: () => output,
    exited,
    stop: (graceMs) => stopProcess(child, graceMs),
  });
  if (port !== undefined) {
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitForHttp(`${url}/healthz`, child, 'the proxy', startTimeoutMs);
    } catch (error) {
      await stopProcess(child);
      throw new Error(`${(error as Error).message}:\n${output}`);
    }
    return started(url);
  }
  const deadline = Date.now() + startTimeoutMs;
  while (Date.now() < deadline) {
    const listening = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(output)?.[1];
    if (listening) return started(`http://127.0.0.1:${listening}`);
    if (child.exitCode !== null) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await stopProcess(child, 0);
  throw new Error(`the proxy did not start:\n${output}`);
}
