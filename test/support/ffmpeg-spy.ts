import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { REAL_FFMPEG } from './ffprobe.js';

/**
 * A fake `FFMPEG_PATH` / `FFPROBE_PATH` that records every run of the real binary. Free of
 * vitest so bench/ can import it.
 */

/** One run seen by an {@link FfmpegSpy}. */
export interface FfmpegRun {
  /** The wrapper's pid: the binary's own pid unless the spy is `timed`, then its parent's. */
  pid: number;
  /** Runs of this spy alive (this one included) when it started. */
  concurrent: number;
  /** The arguments, space-joined. */
  argv: string;
  /** Wall clock at the start (`date +%s%N`). */
  startedNs: bigint;
  /** Only with `timed`: wall clock when the binary exited; undefined while running or when it was killed. */
  endedNs?: bigint;
  /** Only with `timed`: the binary's exit status, once it exited. */
  exitCode?: number;
  /** Only with `timed`: wall milliseconds (microsecond precision) from start to exit. */
  ms?: number;
}

/** What to spy on and how. */
export interface FfmpegSpyOptions {
  /** The binary the wrapper runs (default {@link REAL_FFMPEG}; pass `REAL_FFPROBE` to spy on probes). */
  real?: string;
  /**
   * Stay the binary's parent to log its exit (time and status) instead of `exec`-ing it. The
   * proxy kills whole process groups, so a kill still reaches the binary; but the binary is then
   * a grandchild of the proxy, not a child.
   */
  timed?: boolean;
  /**
   * Read every input at native speed (`-re` before each `-i`), so an encode lasts about as long
   * as its video: for tests that must act while a job is still running.
   */
  realtime?: boolean;
  /** Where to make the spy's own folder (wrapper, log, pid registry); default the system temp folder. */
  parent?: string;
}

/**
 * A shell wrapper that registers its pid, counts how many registered pids are alive (itself
 * included: two wrappers starting together each see the other), logs the run and then runs the
 * real binary (with `exec` unless `timed`, so the pid lives exactly as long as the binary).
 * `-version` runs (readiness checks) are logged but never reported as runs.
 */
export interface FfmpegSpy {
  /** The wrapper, to pass as `FFMPEG_PATH` (or `FFPROBE_PATH`). Named like the binary it runs. */
  path: string;
  /** Every run so far, in start order. */
  runs(): Promise<FfmpegRun[]>;
  /** The most runs ever alive at once, as each run counted them when it started. */
  maxConcurrent(): Promise<number>;
  /**
   * Only with `timed`: the most runs overlapping in time, from the logged start and exit times. A
   * run that never logged its exit (killed) counts as running to the end, so a lost line can only
   * raise the number; an exit and a start at the same instant are not an overlap.
   */
  maxOverlap(): Promise<number>;
  /** Removes the wrapper and its log. */
  remove(): Promise<void>;
}

function parseLog(text: string): FfmpegRun[] {
  const runs: FfmpegRun[] = [];
  const open = new Map<string, FfmpegRun>();
  for (const line of text.split('\n')) {
    const [kind, pid = '', started = '0', ...rest] = line.split(' ');
    if (kind === 'start') {
      const [concurrent, ...argv] = rest;
      const run: FfmpegRun = {
        pid: Number(pid),
        concurrent: Number(concurrent),
        argv: argv.join(' '),
        startedNs: BigInt(started),
      };
      runs.push(run);
      open.set(`${pid} ${started}`, run);
    } else if (kind === 'end') {
      const run = open.get(`${pid} ${started}`);
      const [ended, code] = rest;
      if (!run || ended === undefined) continue;
      run.endedNs = BigInt(ended);
      run.exitCode = Number(code);
      run.ms = Number((run.endedNs - run.startedNs) / 1000n) / 1000;
    }
  }
  return runs.filter((run) => !/(^| )-version( |$)/.test(run.argv));
}

function maxOverlapOf(runs: readonly FfmpegRun[]): number {
  const never = 2n ** 62n;
  const events = runs.flatMap((run) => [
    { at: run.startedNs, delta: 1 },
    { at: run.endedNs ?? never, delta: -1 },
  ]);
  // Exits sort before starts at the same instant: a slot handed over is not an overlap.
  events.sort((a, b) => (a.at === b.at ? a.delta - b.delta : a.at < b.at ? -1 : 1));
  let running = 0;
  let max = 0;
  for (const event of events) {
    running += event.delta;
    max = Math.max(max, running);
  }
  return max;
}

/**
 * Creates an {@link FfmpegSpy} in a fresh temporary directory. `options` may be just the real
 * binary's path (the older `createFfmpegSpy(REAL_FFPROBE)` form).
 */
export async function createFfmpegSpy(options: FfmpegSpyOptions | string = {}): Promise<FfmpegSpy> {
  const {
    real = REAL_FFMPEG,
    timed = false,
    realtime = false,
    parent = os.tmpdir(),
  } = typeof options === 'string' ? { real: options } : options;
  const directory = await mkdtemp(path.join(parent, 'ikvp-ffmpeg-spy-'));
  const pids = path.join(directory, 'pids');
  const log = path.join(directory, 'runs.log');
  await mkdir(pids);
  await writeFile(log, '');
  const wrapper = path.join(directory, path.basename(real));
  const lines = [
    '#!/bin/sh',
    'started=$(date +%s%N)',
    // Register first, then count: two wrappers starting together each see the other.
    `: > "${pids}/$$"`,
    'live=0',
    `for entry in "${pids}"/*; do`,
    `  pid="\${entry##*/}"`,
    '  if kill -0 "$pid" 2>/dev/null; then live=$((live + 1)); fi',
    'done',
    `echo "start $$ $started $live $*" >> "${log}"`,
  ];
  if (realtime)
    lines.push(
      'for arg do',
      '  shift',
      '  if [ "$arg" = "-i" ]; then set -- "$@" -re; fi',
      '  set -- "$@" "$arg"',
      'done',
    );
  if (timed)
    lines.push(
      `"${real}" "$@"`,
      'code=$?',
      `echo "end $$ $started $(date +%s%N) $code" >> "${log}"`,
      `rm -f "${pids}/$$"`,
      'exit $code',
    );
  else lines.push(`exec "${real}" "$@"`);
  await writeFile(wrapper, `${lines.join('\n')}\n`);
  await chmod(wrapper, 0o755);
  const runs = async () => parseLog(await readFile(log, 'utf8'));
  return {
    path: wrapper,
    runs,
    async maxConcurrent() {
      return Math.max(0, ...(await runs()).map((run) => run.concurrent));
    },
    async maxOverlap() {
      if (!timed) throw new Error('maxOverlap() needs a spy created with { timed: true }');
      return maxOverlapOf(await runs());
    },
    async remove() {
      await rm(directory, { recursive: true, force: true });
    },
  };
}
