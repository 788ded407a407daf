import { Writable } from 'node:stream';
import { Hono } from 'hono';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { appendServerTiming, chooseRequestId, requestLog } from '../../src/http/request-log.js';
import type { Logger } from '../../src/render/service.js';
import { startProxy, type TestProxy } from '../support/proxy.js';

interface RequestLine {
  level: number;
  msg: string;
  reqId: string;
  method: string;
  path: string;
  query?: string;
  status: number;
  ms: number;
  cache?: string;
}

/** A pino logger at `level` whose JSON lines land in an array. */
function capturingLogger(level: string): { log: Logger; lines: () => RequestLine[] } {
  const raw: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      raw.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  const log = pino({ level }, sink);
  return {
    log,
    lines: () => raw.map((line) => JSON.parse(line) as RequestLine).filter((line) => line.msg === 'request'),
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('request ids and timing', () => {
  test('an incoming id is adopted only when it is a short printable token', () => {
    const generate = () => 'generated';
    expect(chooseRequestId('abc-123_XYZ.4', generate)).toBe('abc-123_XYZ.4');
    expect(chooseRequestId('  padded  ', generate)).toBe('padded');
    expect(chooseRequestId(undefined, generate)).toBe('generated');
    expect(chooseRequestId('', generate)).toBe('generated');
    expect(chooseRequestId('two words', generate)).toBe('generated');
    expect(chooseRequestId('x'.repeat(129), generate)).toBe('generated');
    expect(chooseRequestId('line\nbreak', generate)).toBe('generated');
    expect(chooseRequestId(undefined)).toMatch(UUID);
  });

  test('Server-Timing entries append to what other layers wrote', () => {
    expect(appendServerTiming(null, 'total', 12.345)).toBe('total;dur=12.3');
    expect(appendServerTiming('encode;dur=800', 'total', 1000)).toBe('encode;dur=800, total;dur=1000.0');
  });

  test('responses with immutable headers (Response.redirect) still get the id and timing', async () => {
    const { log, lines } = capturingLogger('info');
    const app = new Hono();
    app.use('*', requestLog(log));
    app.get('/away', () => Response.redirect('http://127.0.0.1/elsewhere', 307));
    const response = await app.request('/away', { headers: { 'X-Request-Id': 'redirect-1' } });
    expect(response.status).toBe(307);
    expect(response.headers.get('location')).toBe('http://127.0.0.1/elsewhere');
    expect(response.headers.get('x-request-id')).toBe('redirect-1');
    expect(response.headers.get('server-timing')).toMatch(/^total;dur=\d+\.\d$/);
    expect(lines()).toMatchObject([{ reqId: 'redirect-1', status: 307, path: '/away' }]);
  });
});

describe('request log lines from a running proxy', () => {
  let proxy: TestProxy;
  let captured: ReturnType<typeof capturingLogger>;
  beforeAll(async () => {
    captured = capturingLogger('info');
    proxy = await startProxy({}, { log: captured.log });
  });
  afterAll(async () => {
    await proxy?.close();
  });

  test("one JSON line per request with the caller's id, method, path, status and ms; the id comes back", async () => {
    const response = await fetch(`${proxy.url}/sample.mp4/ik-metadata.json`, {
      headers: { 'X-Request-Id': 'cdn-req-42' },
    });
    await response.arrayBuffer();
    expect(response.status).toBe(200);
    expect(response.headers.get('x-request-id')).toBe('cdn-req-42');
    // The phases (origin, cache, probe...) come first; `total` closes the list.
    const timing = /(?:^|, )total;dur=(\d+\.\d)$/.exec(response.headers.get('server-timing') ?? '');
    expect(timing).not.toBeNull();
    const lines = captured.lines().filter((line) => line.reqId === 'cdn-req-42');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 30,
      method: 'GET',
      path: '/sample.mp4/ik-metadata.json',
      status: 200,
      cache: 'MISS',
    });
    expect(lines[0]!.ms).toBeGreaterThan(0);
    // The header is stamped as the response head is built; the log line a moment later.
    expect(lines[0]!.ms).toBeGreaterThanOrEqual(Number(timing![1]) - 0.1);
    expect(lines[0]!.ms - Number(timing![1])).toBeLessThan(20);
  });

  test('without an incoming id a UUID is generated, returned and logged; errors and HEAD are logged too', async () => {
    const missing = await fetch(`${proxy.url}/no-such.mp4?tr=w-100`);
    await missing.arrayBuffer();
    expect(missing.status).toBe(404);
    const id = missing.headers.get('x-request-id') ?? '';
    expect(id).toMatch(UUID);
    expect(captured.lines().filter((line) => line.reqId === id)).toMatchObject([
      { method: 'GET', path: '/no-such.mp4', query: '?tr=w-100', status: 404 },
    ]);

    const head = await fetch(`${proxy.url}/sample.mp4`, {
      method: 'HEAD',
      headers: { 'X-Request-Id': 'head-1' },
    });
    expect(head.status).toBe(200);
    expect(head.headers.get('x-request-id')).toBe('head-1');
    expect(captured.lines().filter((line) => line.reqId === 'head-1')).toMatchObject([
      { method: 'HEAD', status: 200, cache: 'ORIGIN' },
    ]);
  });

  test('two requests never share a generated id', async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const response = await fetch(`${proxy.url}/healthz`);
      await response.arrayBuffer();
      ids.add(response.headers.get('x-request-id') ?? '');
    }
    expect(ids.size).toBe(5);
    // Health probes are logged at debug, so an info-level log is not flooded by them.
    expect(captured.lines().filter((line) => ids.has(line.reqId))).toEqual([]);
  });
});
