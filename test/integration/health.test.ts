import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startProxy, type TestProxy } from '../support/proxy.js';
import { fetchBytes } from './helpers.js';

/** `/readyz` says only whether the node is ready; its reasons go to the log (design §6). */
interface Readiness {
  status: string;
}

/** A proxy whose log lines are kept, to read the reasons `/readyz` does not answer with. */
async function startLoggedProxy(env: Record<string, string> = {}) {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  const proxy = await startProxy(env, { log });
  const reasons = () =>
    lines.filter((line) => line.msg === 'not ready').flatMap((line) => line.problems as string[]);
  return { proxy, lines, reasons };
}

async function readiness(
  proxy: TestProxy,
): Promise<{ status: number; document: Readiness; cacheControl: string | null }> {
  const response = await fetchBytes(`${proxy.url}/readyz`);
  return {
    status: response.status,
    document: JSON.parse(response.body.toString('utf8')) as Readiness,
    cacheControl: response.headers.get('cache-control'),
  };
}

describe('a healthy proxy', () => {
  let proxy: TestProxy;
  beforeAll(async () => {
    proxy = await startProxy();
  });
  afterAll(async () => {
    await proxy?.close();
  });

  test('/healthz -> 200, not cacheable', async () => {
    const response = await fetchBytes(`${proxy.url}/healthz`);
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(JSON.parse(response.body.toString('utf8'))).toMatchObject({ status: 'ok' });
  });

  test('/readyz -> 200 {"status":"ready"} and nothing else', async () => {
    const ready = await readiness(proxy);
    expect(ready.status).toBe(200);
    expect(ready.document).toEqual({ status: 'ready' });
    expect(ready.cacheControl).toBe('no-store');
  });
});

describe('an unready proxy', () => {
  test('FFMPEG_PATH=/nonexistent: /healthz still 200, /readyz 503 "not ready", ffmpeg named in the log only', async () => {
    const { proxy, reasons } = await startLoggedProxy({ FFMPEG_PATH: '/nonexistent' });
    try {
      expect((await fetchBytes(`${proxy.url}/healthz`)).status).toBe(200);
      const ready = await readiness(proxy);
      expect(ready.status).toBe(503);
      expect(ready.cacheControl).toBe('no-store');
      expect(ready.document).toEqual({ status: 'not ready' });
      expect(reasons().join(' ')).toContain('ffmpeg');
      expect(reasons().join(' ')).toContain('/nonexistent');
    } finally {
      await proxy.close();
    }
  });

  test('an origin folder that does not exist: /readyz 503 "not ready", the origin named in the log only', async () => {
    const parent = await mkdtemp(path.join(os.tmpdir(), 'ikvp-missing-origin-'));
    const { proxy, reasons, lines } = await startLoggedProxy({ ORIGIN: path.join(parent, 'not-there') });
    try {
      const response = await fetchBytes(`${proxy.url}/readyz`, {
        headers: { 'x-request-id': 'ready-probe-1' },
      });
      expect(response.status).toBe(503);
      expect(JSON.parse(response.body.toString())).toEqual({ status: 'not ready' });
      expect(response.body.toString()).not.toContain(parent);
      expect(reasons().join(' ')).toMatch(/origin/i);
      // The log line carries the request id, so an operator can join it to the probe's answer.
      expect(lines.find((line) => line.msg === 'not ready')?.reqId).toBe('ready-probe-1');
    } finally {
      await proxy.close();
      await rm(parent, { recursive: true, force: true });
    }
  });

  test('a proxy that is shutting down fails readiness at once', async () => {
    const proxy = await startProxy();
    try {
      expect((await readiness(proxy)).status).toBe(200);
      proxy.proxy.beginShutdown();
      const ready = await readiness(proxy);
      expect(ready.status).toBe(503);
    } finally {
      await proxy.close();
    }
  });
});
