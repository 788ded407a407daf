import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, test } from 'vitest';
import { startProxy } from '../support/proxy.js';

/** A logger whose lines the test can read. */
function capturingLog(): { log: ReturnType<typeof pino>; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, callback) {
      lines.push(String(chunk));
      callback();
    },
  });
  return { log: pino({ level: 'info' }, sink), lines };
}

describe('when the API cannot run', () => {
  test('no API_PRIVATE_KEY: every API path is a 404 saying why, and start-up logs it', async () => {
    const { log, lines } = capturingLog();
    const proxy = await startProxy({}, { log });
    try {
      expect(lines.join('\n')).toMatch(/upload and media library API is off: set API_PRIVATE_KEY/);
      for (const [method, path] of [
        ['POST', '/api/v1/files/upload'],
        ['DELETE', '/v1/files/abc'],
        ['PATCH', '/v1/files/abc/details'],
        ['POST', '/v1/files/purge'],
      ] as const) {
        const response = await fetch(`${proxy.url}${path}`, { method });
        expect(response.status).toBe(404);
        const body = (await response.json()) as { message: string; error: { code: string } };
        expect(body.message).toMatch(/API_PRIVATE_KEY is not set/);
        expect(body.error.code).toBe('not_found');
      }
    } finally {
      await proxy.close();
    }
  });

  test('a read-only (HTTP) origin: 405 naming why', async () => {
    const { log, lines } = capturingLog();
    const proxy = await startProxy(
      { ORIGIN: 'https://videos.example.com/base', API_PRIVATE_KEY: 'read_only_key_1' },
      { log },
    );
    try {
      expect(lines.join('\n')).toMatch(/read-only/);
      const response = await fetch(`${proxy.url}/api/v1/files/upload`, { method: 'POST' });
      expect(response.status).toBe(405);
      expect(((await response.json()) as { message: string }).message).toMatch(/read-only/);
      expect((await fetch(`${proxy.url}/v1/files`)).status).toBe(405);
    } finally {
      await proxy.close();
    }
  });
});
