import { spawn } from 'node:child_process';
import { chmod, mkdir, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startProxyProcess, stopProcess, waitForHttp } from '../test/support/proxy-process.js';
import { freePort } from './util.js';

/** A server process the bench started and must stop. */
export interface ChildServer {
  url: string;
  pid: number;
  close(): Promise<void>;
}

/** Memory of a process from /proc, in kB. */
export interface ProcessMemory {
  rssKb: number;
  /** Peak resident set size over the process's life (VmHWM). */
  hwmKb: number;
}

/** The proxy, spawned exactly as `npm start` would run it (but from source through tsx). */
export interface ProxyChild extends ChildServer {
  memory(): Promise<ProcessMemory | undefined>;
  /** Process ids of every descendant of the proxy now (ffmpeg, ffprobe, their wrappers, tsx's esbuild service). */
  descendantPids(): Promise<number[]>;
  /** Descendants that are ffmpeg or ffprobe (or the wrapper scripts of those names). */
  mediaPids(): Promise<number[]>;
  /** The same without standby ffmpeg processes (`FFMPEG_STANDBY`) waiting for their input. */
  busyMediaPids(): Promise<number[]>;
}

/** User and system CPU time a process has used so far, in microseconds (from /proc). */
export async function processCpuMicros(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start at the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1_000_000) / CLOCK_TICKS_PER_SECOND;
}

/** Linux's USER_HZ, the unit of /proc/<pid>/stat times, is 100 on every mainstream build. */
const CLOCK_TICKS_PER_SECOND = 100;

/** Reads VmRSS and VmHWM of a live process; undefined once it is gone. */
export async function processMemory(pid: number): Promise<ProcessMemory | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const field = (name: string) =>
      Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
    return { rssKb: field('VmRSS'), hwmKb: field('VmHWM') };
  } catch {
    return undefined;
  }
}

async function childrenOf(pid: number): Promise<number[]> {
  try {
    const tasks = await readdir(`/proc/${pid}/task`);
    const lists = await Promise.all(
      tasks.map((task) => readFile(`/proc/${pid}/task/${task}/children`, 'utf8').catch(() => '')),
    );
    return lists.flatMap((list) => list.split(/\s+/).filter(Boolean).map(Number));
  } catch {
    return [];
  }
}

async function descendantsOf(pid: number, depth = 0): Promise<number[]> {
  if (depth > 8) return [];
  const children = await childrenOf(pid);
  const below = await Promise.all(children.map((child) => descendantsOf(child, depth + 1)));
  return [...children, ...below.flat()];
}

async function mediaPidsOf(pid: number): Promise<number[]> {
  const pids = await descendantsOf(pid);
  const names = await Promise.all(pids.map((p) => readFile(`/proc/${p}/comm`, 'utf8').catch(() => '')));
  return pids.filter((_, index) => /^(ffmpeg|ffprobe)$/.test(names[index]!.trim()));
}

/**
 * A standby ffmpeg waiting for its input: its output path lies in the still decoder's folder
 * (`ikvp-stills-`) and it is blocked reading stdin. The timed spy's wrapper shell around it only
 * waits for it, so it counts as settled too (its ffmpeg child is judged on its own).
 */
async function isSettledStandby(pid: number): Promise<boolean> {
  const [cmdline, wchan, exe] = await Promise.all([
    readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => ''),
    readFile(`/proc/${pid}/wchan`, 'utf8').catch(() => ''),
    readlink(`/proc/${pid}/exe`).catch(() => ''),
  ]);
  if (!cmdline.includes('ikvp-stills-')) return false;
  return /\/(ba|da)?sh$/.test(exe) || /read/.test(wchan);
}

/**
 * Spawns `node --import tsx src/index.ts` with `env` on a free loopback port, its output in
 * `logFile`, and waits until `/healthz` answers. `nodeArgs` go before the script (e.g. `--cpu-prof`).
 */
export async function startProxyChild(
  repoRoot: string,
  env: Record<string, string>,
  logFile: string,
  nodeArgs: readonly string[] = [],
): Promise<ProxyChild> {
  const proxy = await startProxyProcess(env, {
    cwd: repoRoot,
    nodeArgs,
    port: await freePort(),
    logFile,
    startTimeoutMs: 60_000,
  });
  const pid = proxy.pid;
  return {
    url: proxy.url,
    pid,
    memory: () => processMemory(pid),
    descendantPids: () => descendantsOf(pid),
    mediaPids: () => mediaPidsOf(pid),
    busyMediaPids: async () => {
      const pids = await mediaPidsOf(pid);
      const waiting = await Promise.all(pids.map((p) => isSettledStandby(p)));
      return pids.filter((_, index) => !waiting[index]);
    },
    close: () => proxy.stop(12_000),
  };
}

/**
 * Starts the bare Hono reference serving `file` from memory, with Hono's minimal headers or, given
 * `headersFile` (a JSON object), with those headers and a new request id on every answer.
 */
export async function startHonoReference(
  repoRoot: string,
  file: string,
  contentType: string,
  headersFile?: string,
): Promise<ChildServer> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      path.join(repoRoot, 'bench/hono-ref.ts'),
      file,
      contentType,
      ...(headersFile ? [headersFile] : []),
    ],
    {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const port = await new Promise<number>((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error('the Hono reference did not start within 30 s')), 30_000);
    child.stdout.on('data', (chunk: Buffer) => {
      seen += chunk.toString('utf8');
      const match = /listening (\d+)/.exec(seen);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the Hono reference exited with ${code}`));
    });
  });
  return { url: `http://127.0.0.1:${port}`, pid: child.pid!, close: () => stopProcess(child) };
}

/**
 * Starts nginx (sendfile on, no access log, `workers` worker processes) serving `root` on a free
 * loopback port, with every path it writes under `workDir`.
 */
export async function startNginx(
  root: string,
  workDir: string,
  workers: number | 'auto',
): Promise<ChildServer> {
  const port = await freePort();
  await mkdir(path.join(workDir, 'tmp'), { recursive: true });
  // Workers run as another user when the master is root: they must be able to read the root.
  await chmod(root, 0o755);
  const temp = (name: string) => `${name}_temp_path ${path.join(workDir, 'tmp', name)};`;
  const config = `
${process.getuid?.() === 0 ? 'user root;' : ''}
worker_processes ${workers};
pid ${path.join(workDir, 'nginx.pid')};
error_log ${path.join(workDir, 'error.log')} warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  default_type application/octet-stream;
  ${temp('client_body')} ${temp('proxy')} ${temp('fastcgi')} ${temp('uwsgi')} ${temp('scgi')}
  server {
    listen 127.0.0.1:${port};
    root ${root};
  }
}
`;
  const configFile = path.join(workDir, 'nginx.conf');
  await writeFile(configFile, config);
  const child = spawn('/usr/sbin/nginx', ['-p', workDir, '-c', configFile, '-g', 'daemon off;'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp(`${url}/`, child, 'nginx', 15_000);
  } catch (error) {
    await stopProcess(child);
    throw error;
  }
  // SIGQUIT is nginx's graceful stop; SIGTERM (fast stop) is fine for a benchmark.
  return { url, pid: child.pid!, close: () => stopProcess(child) };
}
