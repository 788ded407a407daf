import { type ChildProcess, spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { JobTimeoutError, ProxyError, RenderError } from '../errors.js';

/**
 * The one module that starts ffmpeg and ffprobe. Everything else builds argv as plain arrays
 * (pure functions in `argv.ts`) and hands them here. Each child runs in its own process group so
 * a timeout or shutdown kills it and anything it started; every live child is tracked so
 * `killAllChildren` can reap them on SIGTERM.
 */

const STDERR_TAIL_BYTES = 4096;
const live = new Set<ChildProcess>();

/** Options for one ffmpeg/ffprobe run. */
export interface RunOptions {
  /** Wall-clock limit; the process group is killed when it passes. */
  timeoutMs: number;
  /** Aborting kills the process group. */
  signal?: AbortSignal;
  /** Called with each stdout chunk instead of collecting it. */
  onStdout?: (chunk: Buffer) => void;
  /** Fed to the child's stdin (e.g. the previous step of a pipe chain). */
  stdin?: Readable;
  /** Extra output pipes the child writes as `pipe:3`, `pipe:4`... (one ffmpeg, several outputs). */
  extraOutputs?: number;
}

/** A started child: its stdout for streaming and a promise that settles when it exits. */
export interface RunningProcess {
  stdout: Readable;
  /** The `extraOutputs` pipes, in order (fd 3 first). */
  outputs: Readable[];
  /** Resolves on exit code 0; rejects with a `RenderError`, `JobTimeoutError` or the abort reason. */
  done: Promise<void>;
  kill(): void;
}

/** Children whose stdio has closed: their process group may be reused, so it is never signalled again. */
const closed = new WeakSet<ChildProcess>();

/**
 * Signals the child's whole process group. The leader having exited is not enough to skip it: a
 * wrapper script's ffmpeg (or anything else in the group) may still run and hold the pipes, so the
 * group is signalled until the child's stdio has closed.
 */
function killGroup(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (child.pid === undefined || closed.has(child)) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // ESRCH: the group is already gone. Fall back to the leader in case the group never formed.
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  }
}

/** Number of ffmpeg/ffprobe children alive now (for metrics and shutdown). */
export function liveChildCount(): number {
  return live.size;
}

/** Process ids of the children alive now (each is also its process group id). */
export function liveChildPids(): number[] {
  return [...live].flatMap((child) => (child.pid === undefined ? [] : [child.pid]));
}

/**
 * Kills every child this process started: SIGTERM to each process group, SIGKILL to whatever is
 * left after `graceMs`, then waits (bounded) until each child has been reaped.
 */
export async function killAllChildren(graceMs = 2000): Promise<void> {
  for (const child of live) killGroup(child, 'SIGTERM');
  const waitUntil = async (deadline: number) => {
    while (live.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25));
  };
  await waitUntil(Date.now() + graceMs);
  for (const child of live) killGroup(child, 'SIGKILL');
  await waitUntil(Date.now() + 2000);
}

/**
 * Starts `command args` and returns its stdout as a stream. The caller must consume stdout (or
 * the child stalls on a full pipe) and await `done`.
 */
export function startProcess(command: string, args: readonly string[], options: RunOptions): RunningProcess {
  const child = spawnTracked(command, args, options.stdin !== undefined, options.extraOutputs ?? 0);
  if (options.stdin && child.stdin) options.stdin.pipe(child.stdin);
  return supervise(child, command, options);
}

/** Spawns a child in its own process group and tracks it until it closes. */
function spawnTracked(
  command: string,
  args: readonly string[],
  withStdin: boolean,
  extraOutputs = 0,
): ChildProcess {
  const child = spawn(command, args, {
    stdio: [withStdin ? 'pipe' : 'ignore', 'pipe', 'pipe', ...Array<'pipe'>(extraOutputs).fill('pipe')],
    detached: true,
  });
  live.add(child);
  // A step that exits early (or is killed) closes its stdin; that is not an error of the feeder.
  child.stdin?.on('error', () => {});
  return child;
}

/** A child started before its work is known, with fixed argv, waiting for its input on stdin. */
export interface StandbyProcess {
  /** True while it is alive and has not been given its input. */
  readonly ready: boolean;
  /**
   * Writes `input` to stdin, closes it and collects stdout. The timeout and the signal count from
   * this call, as if the process had been started now.
   */
  run(input: Buffer, options: Omit<RunOptions, 'stdin' | 'extraOutputs'>): Promise<Buffer>;
  kill(): void;
}

/**
 * Starts `command args` now and leaves it blocked on reading stdin: the dynamic linking and
 * library set-up of an ffmpeg start (about 0.1 s) are paid before a request needs the process.
 */
export function startStandby(command: string, args: readonly string[]): StandbyProcess {
  const child = spawnTracked(command, args, true);
  // A waiting standby must not keep an otherwise finished process alive.
  const handles = [child, child.stdin, child.stdout, child.stderr] as { unref?(): void; ref?(): void }[];
  for (const handle of handles) handle.unref?.();
  let taken = false;
  let exited = false;
  child.once('close', () => {
    exited = true;
    closed.add(child);
    live.delete(child);
  });
  // A start failure (no such binary) must not crash the process; `ready` turns false.
  child.once('error', () => {
    exited = true;
  });
  return {
    get ready() {
      return !taken && !exited;
    },
    async run(input, options) {
      if (taken || exited) throw new RenderError('The standby process is no longer available');
      taken = true;
      for (const handle of handles) handle.ref?.();
      const proc = supervise(child, command, options);
      const chunks: Buffer[] = [];
      proc.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
      child.stdin!.end(input);
      await proc.done;
      return Buffer.concat(chunks);
    },
    kill: () => killGroup(child),
  };
}

/** Arms the timeout and the abort signal for a started child and turns its exit into `done`. */
function supervise(child: ChildProcess, command: string, options: RunOptions): RunningProcess {
  let stderrTail = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    stderrTail = (stderrTail + chunk).slice(-STDERR_TAIL_BYTES);
  });
  let failure: ProxyError | undefined;
  const timer = setTimeout(() => {
    failure = new JobTimeoutError(Math.round(options.timeoutMs / 1000));
    killGroup(child);
  }, options.timeoutMs);
  timer.unref();
  const onAbort = () => {
    const reason = options.signal?.reason;
    failure =
      reason instanceof ProxyError
        ? reason
        : new RenderError('Transformation was cancelled', '', { cause: reason });
    killGroup(child);
  };
  if (options.signal?.aborted) onAbort();
  else options.signal?.addEventListener('abort', onAbort, { once: true });

  const done = new Promise<void>((resolve, reject) => {
    child.once('error', (error: NodeJS.ErrnoException) => {
      // The binary's path and the variables that set it are for the operator's log only.
      failure ??= new RenderError('The media tools could not be started', '', {
        cause: error,
        detail:
          error.code === 'ENOENT'
            ? `${command} was not found; install ffmpeg or set FFMPEG_PATH/FFPROBE_PATH`
            : `Could not start ${command}`,
      });
    });
    child.once('close', (code, signal) => {
      closed.add(child);
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      live.delete(child);
      if (failure) reject(failure);
      else if (code === 0) resolve();
      else
        reject(
          new RenderError('The transformation failed while encoding', `${stderrTail}`.trim(), {
            cause: { code, signal },
          }),
        );
    });
  });
  // A caller that never awaits `done` must not crash the process with an unhandled rejection.
  done.catch(() => {});
  const outputs = child.stdio.slice(3) as Readable[];
  return { stdout: child.stdout!, outputs, done, kill: () => killGroup(child) };
}

/** Runs a command to completion and returns everything it wrote to stdout. */
export async function runToBuffer(
  command: string,
  args: readonly string[],
  options: RunOptions,
): Promise<Buffer> {
  const proc = startProcess(command, args, options);
  const chunks: Buffer[] = [];
  proc.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
  await proc.done;
  return Buffer.concat(chunks);
}

/**
 * Runs `command` once per argv in `steps` as a pipe chain (each step's stdout feeds the next
 * step's stdin) and returns the last step's stdout. Any failing step kills the whole chain.
 */
export async function runPipelineToBuffer(
  command: string,
  steps: readonly (readonly string[])[],
  options: RunOptions,
): Promise<Buffer> {
  const procs: RunningProcess[] = [];
  let previous: Readable | undefined;
  for (const args of steps) {
    const proc = startProcess(command, args, { ...options, stdin: previous });
    procs.push(proc);
    previous = proc.stdout;
  }
  const chunks: Buffer[] = [];
  procs.at(-1)?.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
  try {
    await Promise.all(procs.map((proc) => proc.done));
  } catch (error) {
    for (const proc of procs) proc.kill();
    throw error;
  }
  return Buffer.concat(chunks);
}
