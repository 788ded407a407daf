import { rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import path from 'node:path';
import { serve } from '@hono/node-server';
import { type VideoProxy as BuiltProxy, buildProxy } from './app.js';
import { type Config, loadConfig } from './config/index.js';
import { ConfigError } from './errors.js';
import { killAllChildren, liveChildCount } from './media/runner.js';

/** Longest time running jobs get to finish after SIGTERM before their process groups are killed. */
const SHUTDOWN_GRACE_MS = 10_000;
/** Time between SIGTERM and SIGKILL for each ffmpeg process group once the grace has passed. */
const KILL_GRACE_MS = 1000;
/** Exit status for a configuration error (sysexits EX_CONFIG), so supervisors can tell it apart. */
const EXIT_CONFIG = 78;

function describeOrigin(config: Config): string {
  if (config.origin.kind === 'fs') return config.origin.root;
  if (config.origin.kind === 's3' || config.origin.kind === 'gs')
    return `${config.origin.kind}://${config.origin.bucket}/${config.origin.prefix}`;
  if (config.origin.kind === 'azure') return `azure://${config.origin.container}/${config.origin.prefix}`;
  return config.origin.baseUrl;
}

async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Stops in an order that never leaves work behind: readiness fails at once (the load balancer
 * drains us), the listener closes and idle keep-alive sockets go (no new requests), running jobs
 * get a bounded time to finish, then every ffmpeg process group is killed and reaped, encodes in
 * progress are deleted from `CACHE_DIR/live`, and open responses are cut.
 */
async function stop(proxy: BuiltProxy, server: Server, config: Config, graceMs: number): Promise<void> {
  proxy.beginShutdown();
  server.close();
  server.closeIdleConnections();
  // Live streams end before children are killed, so their recordings are complete and stored.
  await proxy.live?.close();
  const deadline = Date.now() + graceMs;
  while (proxy.limiter.stats().running > 0 && Date.now() < deadline) await sleep(100);
  await killAllChildren(KILL_GRACE_MS);
  // Killed encodes fail their live outputs asynchronously; the folder is removed whatever they did.
  await rm(path.join(config.cacheDir, 'live'), { recursive: true, force: true }).catch((error: unknown) =>
    proxy.log.warn({ err: error }, 'could not remove encodes in progress'),
  );
  server.closeAllConnections();
  await proxy.close();
}

/**
 * Starts the proxy: configuration from the environment (every bad variable reported at once, exit
 * status 78), then the HTTP server, then graceful shutdown on SIGTERM/SIGINT. A second signal
 * skips the grace period.
 */
async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(EXIT_CONFIG);
    }
    throw error;
  }
  // A signal during start-up must not be lost, nor kill the process before children are reaped.
  let signalled: string | undefined;
  let onSignal = (signal: string) => {
    signalled = signal;
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));

  const proxy = await buildProxy(config);
  const server = serve({ fetch: proxy.fetch, port: config.port, hostname: config.host }, (info) => {
    const shown = config.host === '0.0.0.0' ? '127.0.0.1' : config.host;
    proxy.log.info(
      { port: info.port, host: config.host, origin: describeOrigin(config) },
      `listening on http://${shown}:${info.port}`,
    );
  }) as Server;
  // Node cuts every request body off after 5 minutes, and a large upload from a slow link takes
  // longer: with the upload API on, bodies are bounded by the upload's own idle timeout instead.
  if (config.api.enabled) server.requestTimeout = 0;

  let stopping: Promise<void> | undefined;
  onSignal = (signal: string) => {
    if (stopping) {
      proxy.log.warn({ signal }, 'second signal: stopping without waiting for jobs');
      void killAllChildren(0).finally(() => process.exit(1));
      return;
    }
    proxy.log.info({ signal, graceMs: SHUTDOWN_GRACE_MS }, 'shutting down');
    stopping = stop(proxy, server, config, Math.min(config.jobTimeoutMs, SHUTDOWN_GRACE_MS))
      .then(
        () => {
          proxy.log.info({ remainingChildren: liveChildCount() }, 'stopped');
          return 0;
        },
        (error: unknown) => {
          proxy.log.error({ err: error }, 'shutdown failed');
          return 1;
        },
      )
      .then((code) => process.exit(code));
  };
  if (signalled) onSignal(signalled);
}

main().catch((error) => {
  process.stderr.write(`fatal: ${(error as Error).stack ?? error}\n`);
  process.exit(1);
});
