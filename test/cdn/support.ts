import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../support/fixtures.js';
import { type ProxyProcess, stopProcess, waitForHttp } from '../support/proxy-process.js';

/**
 * nginx and Varnish from apt, started on 127.0.0.1 with the shipped deploy/cdn configurations,
 * changed only in the strings a copier is told to change (the proxy's address, the listening
 * address, the cache folder).
 */

const CDN_DIR = path.join(REPO_ROOT, 'deploy', 'cdn');

function installed(command: string, versionFlag: string): boolean {
  const found = spawnSync(command, [versionFlag], { stdio: 'ignore' }).status === 0;
  if (!found)
    console.warn(`Skipping ${command} tests: it is not installed (scripts/provision.sh --servers).`);
  return found;
}

/** Whether nginx and varnishd are here (scripts/provision.sh --servers installs both). */
export const hasNginx = installed('nginx', '-v');
export const hasVarnish = installed('varnishd', '-V');

/** A cache server in front of a proxy process. */
export interface CacheServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** The process's output so far. */
  output(): string;
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (bound, then released). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function hostPort(url: string): { host: string; port: string } {
  const parsed = new URL(url);
  return { host: parsed.hostname, port: parsed.port };
}

function replaceOnce(text: string, from: string, to: string): string {
  if (text.split(from).length !== 2) throw new Error(`'${from}' must appear exactly once`);
  return text.replace(from, to);
}

function collect(child: ChildProcess): () => string {
  let output = '';
  const append = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-256 * 1024);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  return () => output;
}

async function started(
  child: ChildProcess,
  output: () => string,
  url: string,
  what: string,
  folder: string,
): Promise<CacheServer> {
  try {
    await waitForHttp(`${url}/healthz`, child, what, 30_000);
  } catch (error) {
    await stopProcess(child, 2000);
    throw new Error(`${(error as Error).message}\n${output()}`);
  }
  return {
    url,
    output,
    async stop() {
      await stopProcess(child, 5000);
      await rm(folder, { recursive: true, force: true });
    },
  };
}

/** `deploy/cdn/nginx.conf` in front of `proxy`: `nginx -c <conf> -p <tmp>` in the foreground. */
export async function startNginx(proxy: ProxyProcess): Promise<CacheServer> {
  const folder = await mkdtemp(path.join(os.tmpdir(), 'ikvp-nginx-'));
  await mkdir(path.join(folder, 'logs'));
  const port = await freePort();
  const { host, port: upstreamPort } = hostPort(proxy.url);
  let conf = await readFile(path.join(CDN_DIR, 'nginx.conf'), 'utf8');
  conf = replaceOnce(conf, '127.0.0.1:8080', `${host}:${upstreamPort}`);
  conf = replaceOnce(conf, '127.0.0.1:8081', `127.0.0.1:${port}`);
  conf = replaceOnce(conf, '/var/cache/ik-video-proxy', path.join(folder, 'cache'));
  const confPath = path.join(folder, 'nginx.conf');
  await writeFile(confPath, conf);
  // Workers of a root master run as an unprivileged user that cannot enter a mkdtemp folder.
  const user = process.getuid?.() === 0 ? 'user root; ' : '';
  const child = spawn(
    'nginx',
    [
      ...['-c', confPath, '-p', `${folder}/`, '-e', path.join(folder, 'logs', 'error.log')],
      ...['-g', `daemon off; ${user}pid ${path.join(folder, 'nginx.pid')};`],
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return started(child, collect(child), `http://127.0.0.1:${port}`, 'nginx', folder);
}

/** `deploy/cdn/varnish.vcl` in front of `proxy`: `varnishd -F` with a 64 MB memory store. */
export async function startVarnish(proxy: ProxyProcess): Promise<CacheServer> {
  const folder = await mkdtemp(path.join(os.tmpdir(), 'ikvp-varnish-'));
  await chmod(folder, 0o755);
  const port = await freePort();
  const { host, port: upstreamPort } = hostPort(proxy.url);
  let vcl = await readFile(path.join(CDN_DIR, 'varnish.vcl'), 'utf8');
  vcl = replaceOnce(vcl, '.host = "127.0.0.1";', `.host = "${host}";`);
  vcl = replaceOnce(vcl, '.port = "8080";', `.port = "${upstreamPort}";`);
  const vclPath = path.join(folder, 'ik-video-proxy.vcl');
  await writeFile(vclPath, vcl, { mode: 0o644 });
  const child = spawn(
    'varnishd',
    [
      ...['-F', '-a', `127.0.0.1:${port}`, '-f', vclPath, '-n', path.join(folder, 'instance')],
      ...['-s', 'malloc,64m', '-j', 'none', '-p', 'vcc_allow_inline_c=off'],
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return started(child, collect(child), `http://127.0.0.1:${port}`, 'varnishd', folder);
}

/** One request the proxy logged. */
export interface LoggedRequest {
  method: string;
  path: string;
  query?: string;
  status: number;
  cache?: string;
}

/** The requests the proxy logged after `offset` characters of its output (see `output().length`). */
export function loggedRequests(proxy: ProxyProcess, offset = 0): LoggedRequest[] {
  const requests: LoggedRequest[] = [];
  for (const line of proxy.output().slice(offset).split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const entry = JSON.parse(line) as LoggedRequest & { msg?: string };
      if (entry.msg === 'request' && entry.path !== '/healthz') requests.push(entry);
    } catch {
      // a partial line
    }
  }
  return requests;
}
