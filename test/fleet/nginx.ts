import { type ChildProcess, spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../support/fixtures.js';
import { stopProcess, waitForHttp } from '../support/proxy-process.js';

/**
 * The shipped nginx configuration (deploy/nginx/nginx.conf and ik-video-proxy.conf) run for real
 * on loopback: only the node addresses, the listen address and the file paths are replaced, so the
 * test exercises the hashing, failover and buffering settings users copy.
 */

export const DEPLOY_NGINX = path.join(REPO_ROOT, 'deploy', 'nginx');

/** One line of the `ik_fleet` access log. */
export interface FleetLogLine {
  method: string;
  uri: string;
  status: number;
  /** `127.0.0.1:port`, or several comma-separated when nginx failed over. */
  upstream: string;
  /** The node that finally answered. */
  answeredBy: string;
  cache: string;
}

export interface FleetNginx {
  url: string;
  child: ChildProcess;
  log(): Promise<FleetLogLine[]>;
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The shipped fleet config with `nodes` (`http://127.0.0.1:port`) as its upstream servers. */
export async function fleetConfig(
  nodes: readonly string[],
  listenPort: number,
  accessLog: string,
): Promise<string> {
  const shipped = await readFile(path.join(DEPLOY_NGINX, 'ik-video-proxy.conf'), 'utf8');
  const block = /(# nodes:begin[^\n]*\n)([\s\S]*?)(\s*# nodes:end)/.exec(shipped);
  if (!block) throw new Error('ik-video-proxy.conf has no "# nodes:begin ... # nodes:end" block');
  const example = /^\s*server\s+\S+\s+(.*);$/m.exec(block[2]!);
  if (!example) throw new Error('the nodes block has no server line');
  const servers = nodes.map((node) => `    server ${new URL(node).host} ${example[1]};`).join('\n');
  return shipped
    .replace(block[0], `${block[1]}${servers}${block[3]}`)
    .replace(/^\s*listen\s+80;/m, `    listen 127.0.0.1:${listenPort};`)
    .replace(/access_log\s+\S+\s+ik_fleet;/, `access_log ${accessLog} ik_fleet;`);
}

/** Starts nginx in the foreground with the shipped configs rewritten for loopback and a temp prefix. */
export async function startFleetNginx(nodes: readonly string[]): Promise<FleetNginx> {
  const prefix = await mkdtemp(path.join(os.tmpdir(), 'ikvp-nginx-'));
  const temp = path.join(prefix, 'temp');
  await mkdir(temp);
  // Workers run as an unprivileged user when the master is root: they must reach the temp folders.
  await chmod(prefix, 0o755);
  await chmod(temp, 0o777);
  const port = await freePort();
  const accessLog = path.join(prefix, 'access.log');
  await writeFile(path.join(prefix, 'ik-video-proxy.conf'), await fleetConfig(nodes, port, accessLog));
  const main = (await readFile(path.join(DEPLOY_NGINX, 'nginx.conf'), 'utf8'))
    .replace(/^worker_processes\s+\S+;/m, 'daemon off;\nworker_processes 1;')
    .replace(/^pid\s+\S+;/m, `pid ${path.join(prefix, 'nginx.pid')};`)
    .replace(/^error_log\s+(\S+)/m, `error_log ${path.join(prefix, 'error.log')}`)
    .replace(
      /^(\s*)include ik-video-proxy\.conf;/m,
      [
        `$1client_body_temp_path ${temp}/body;`,
        `$1proxy_temp_path ${temp}/proxy;`,
        `$1fastcgi_temp_path ${temp}/fastcgi;`,
        `$1include ${path.join(prefix, 'ik-video-proxy.conf')};`,
      ].join('\n'),
    );
  const conf = path.join(prefix, 'nginx.conf');
  await writeFile(conf, main);
  let output = '';
  const child = spawn('nginx', ['-c', conf, '-p', prefix], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk));
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp(`${url}/healthz`, child, 'nginx', 15_000);
  } catch (error) {
    await stopProcess(child, 1000);
    const errors = await readFile(path.join(prefix, 'error.log'), 'utf8').catch(() => '');
    throw new Error(`${(error as Error).message}\n${output}\n${errors}`);
  }
  return {
    url,
    child,
    async log() {
      const text = await readFile(accessLog, 'utf8').catch(() => '');
      return text
        .split('\n')
        .map((line) => /"(\S+) (\S+) HTTP\/[\d.]+" (\d+) \d+ upstream=(.*?) cache=(\S*) rt=/.exec(line))
        .filter((match): match is RegExpExecArray => match !== null)
        .map((match) => {
          const upstream = match[4]!;
          return {
            method: match[1]!,
            uri: match[2]!,
            status: Number(match[3]),
            upstream,
            answeredBy: upstream.split(/,\s*/).at(-1)!,
            cache: match[5]!,
          };
        });
    },
    async close() {
      // SIGQUIT: graceful; the workers finish their requests (there are none left by now).
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGQUIT');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      await rm(prefix, { recursive: true, force: true });
    },
  };
}
