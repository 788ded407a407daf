import { serve } from '@hono/node-server';
import { buildProxy } from './app.js';
import { loadConfig } from './config/index.js';
import { ConfigError } from './errors.js';
import { killAllChildren, liveChildCount } from './media/runner.js';

/**
 * Starts the proxy: configuration from the environment (every bad variable reported at once),
 * then the HTTP server, then graceful shutdown on SIGTERM/SIGINT: readiness fails at once, new
 * connections are refused, running jobs get a bounded time to finish, then every ffmpeg child is
 * killed and reaped.
 */
async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(78);
    }
    throw error;
  }
  const proxy = await buildProxy(config);
  const server = serve({ fetch: proxy.app.fetch, port: config.port, hostname: config.host }, (info) => {
    const origin = config.origin.kind === 'fs' ? config.origin.root : config.origin.kind === 's3' ? `s3://${config.origin.bucket}/${config.origin.prefix}` : config.origin.baseUrl;
    proxy.log.info({ port: info.port, host: config.host, origin }, `listening on http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${info.port}`);
  });

  let shuttingDown = false;
  const shutdown = async (signal: string) => {
    if (shuttingDown) return;
    shuttingDown = true;
    proxy.log.info({ signal }, 'shutting down');
    proxy.beginShutdown();
    server.close();
    const deadline = Date.now() + Math.min(config.jobTimeoutMs, 10_000);
    while (proxy.limiter.stats().running > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    await killAllChildren();
    await proxy.close();
    proxy.log.info({ remainingChildren: liveChildCount() }, 'stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((error) => {
  process.stderr.write(`fatal: ${(error as Error).stack ?? error}\n`);
  process.exit(1);
});
