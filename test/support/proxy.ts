import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { serve } from '@hono/node-server';
import { pino } from 'pino';
import { afterAll, beforeAll } from 'vitest';
import { type BuildOptions, buildProxy, type VideoProxy } from '../../src/app.js';
import { loadConfig } from '../../src/config/index.js';

/** A proxy listening on 127.0.0.1 with its own temporary cache directory. */
export interface TestProxy {
  /** `http://127.0.0.1:<port>` */
  url: string;
  proxy: VideoProxy;
  cacheDir: string;
  close(): Promise<void>;
}

/**
 * Builds the proxy from `env` (plus a fresh CACHE_DIR unless given) exactly as `npm start` does
 * and serves it on an ephemeral loopback port. Use `proxy.app.request()` for socket-less tests.
 * `close()` stops the server and the proxy and removes the CACHE_DIR it made; `Proxy.close()`
 * does not wait for a video output's cache write that is still finishing, so that removal
 * retries instead of failing the test on ENOTEMPTY.
 */
export async function startProxy(
  env: Record<string, string> = {},
  options: BuildOptions = {},
): Promise<TestProxy> {
  const cacheDir = env.CACHE_DIR ?? (await mkdtemp(path.join(os.tmpdir(), 'ikvp-cache-')));
  const config = loadConfig({
    LOG_LEVEL: 'silent',
    // A standby ffmpeg is a process start that is not a job; tests that count starts per request
    // (single flight, coalescing) would see it. Its own tests turn it on.
    FFMPEG_STANDBY: '0',
    ...env,
    CACHE_DIR: cacheDir,
    PORT: '0',
    HOST: '127.0.0.1',
  });
  const proxy = await buildProxy(config, {
    log: options.log ?? pino({ level: env.LOG_LEVEL ?? 'silent' }),
    ...options,
  });
  const server = serve({ fetch: proxy.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    proxy,
    cacheDir,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await proxy.close();
      if (!env.CACHE_DIR)
        await rm(cacheDir, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
    },
  };
}

/**
 * Registers `beforeAll`/`afterAll` hooks in the enclosing file or `describe` that start a proxy
 * (see {@link startProxy}) and close it, and returns a view of that proxy for the tests to read
 * (`proxy.url`, `proxy.proxy`, ...).
 */
export function useProxy(env: Record<string, string> = {}, options: BuildOptions = {}): TestProxy {
  let started: TestProxy | undefined;
  beforeAll(async () => {
    started = await startProxy(env, options);
  });
  afterAll(async () => {
    await started?.close();
    started = undefined;
  });
  const current = (): TestProxy => {
    if (!started) throw new Error('useProxy(): the proxy runs only between its beforeAll and afterAll');
    return started;
  };
  return {
    get url() {
      return current().url;
    },
    get proxy() {
      return current().proxy;
    },
    get cacheDir() {
      return current().cacheDir;
    },
    close: () => current().close(),
  };
}
