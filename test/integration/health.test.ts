import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startProxy, type TestProxy } from '../support/proxy.js';
import { fetchBytes } from './helpers.js';

interface Readiness {
  status: string;
  problems: string[];
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

  test('/readyz -> 200 with no problems', async () => {
    const ready = await readiness(proxy);
    expect(ready.status).toBe(200);
    expect(ready.document.problems).toEqual([]);
    expect(ready.cacheControl).toBe('no-store');
  });
});

describe('an unready proxy', () => {
  test('FFMPEG_PATH=/nonexistent: /healthz still 200, /readyz 503 naming ffmpeg', async () => {
    const proxy = await startProxy({ FFMPEG_PATH: '/nonexistent' });
    try {
      expect((await fetchBytes(`${proxy.url}/healthz`)).status).toBe(200);
      const ready = await readiness(proxy);
      expect(ready.status).toBe(503);
      expect(ready.cacheControl).toBe('no-store');
      expect(ready.document.problems.join(' ')).toContain('ffmpeg');
      expect(ready.document.problems.join(' ')).toContain('/nonexistent');
    } finally {
      await proxy.close();
    }
  });

  test('an origin folder that does not exist: /readyz 503 naming the origin', async () => {
    const parent = await mkdtemp(path.join(os.tmpdir(), 'ikvp-missing-origin-'));
    const proxy = await startProxy({ ORIGIN: path.join(parent, 'not-there') });
    try {
      const ready = await readiness(proxy);
      expect(ready.status).toBe(503);
      expect(ready.document.problems.join(' ')).toMatch(/origin/i);
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
