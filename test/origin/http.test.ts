import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { NotFoundError, OriginError, OriginTimeoutError } from '../../src/errors.js';
import { isForbiddenAddress } from '../../src/origin/address.js';
import { HttpOrigin, type HttpOriginOptions, isUnderPrefix } from '../../src/origin/http.js';
import { collect, type OriginFixture, originContract, patternBytes } from './origin-contract.js';
import { startHangingServer, startScriptedServer, startStaticServer, type TestServer } from './servers.js';

const REFUSED = /address the proxy may not connect to/;

async function staticFixture(ignoreRange: boolean): Promise<OriginFixture> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'http-origin-'));
  const server = await startStaticServer(root, { ignoreRange });
  const origin = new HttpOrigin({
    baseUrl: `${server.url}media`,
    timeoutMs: 5000,
    allowlist: [],
    allowPrivate: true,
  });
  return {
    origin,
    async put(relative, bytes) {
      const target = path.join(root, 'media', relative);
      await mkdir(path.dirname(target), { recursive: true });
      await writeFile(target, bytes);
    },
    async teardown() {
      await origin.destroy();
      await server.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}

originContract('http', () => staticFixture(false));
originContract('http (server ignores Range)', () => staticFixture(true));

function originAt(baseUrl: string, extra: Partial<HttpOriginOptions> = {}): HttpOrigin {
  return new HttpOrigin({ baseUrl, timeoutMs: 2000, allowlist: [], allowPrivate: true, ...extra });
}

describe('HttpOrigin failures', () => {
  const servers: TestServer[] = [];
  const origins: HttpOrigin[] = [];
  async function scripted(handler: Parameters<typeof startScriptedServer>[0]): Promise<TestServer> {
    const server = await startScriptedServer(handler);
    servers.push(server);
    return server;
  }
  function track(origin: HttpOrigin): HttpOrigin {
    origins.push(origin);
    return origin;
  }
  afterAll(async () => {
    for (const origin of origins) await origin.destroy();
    for (const server of servers) await server.close();
  });

  test('a 500 is an OriginError with status 502', async () => {
    const server = await scripted((_req, res) => res.writeHead(500).end('boom'));
    const origin = track(originAt(server.url));
    const statError = await origin.stat('a.mp4').catch((e) => e);
    expect(statError).toBeInstanceOf(OriginError);
    expect(statError.status).toBe(502);
    await expect(origin.read('a.mp4', { start: 0, end: 9 })).rejects.toBeInstanceOf(OriginError);
    await expect(origin.ping()).rejects.toBeInstanceOf(OriginError);
  });

  test.each([404, 410])('a %i is NotFoundError', async (status) => {
    const server = await scripted((_req, res) => res.writeHead(status).end());
    const origin = track(originAt(server.url));
    await expect(origin.stat('a.mp4')).rejects.toBeInstanceOf(NotFoundError);
    await expect(origin.read('a.mp4')).rejects.toBeInstanceOf(NotFoundError);
  });

  test('a 403 is an OriginError, not a missing source, and ping still counts it as reachable', async () => {
    const server = await scripted((_req, res) => res.writeHead(403).end());
    const origin = track(originAt(server.url));
    const error = await origin.stat('a.mp4').catch((e) => e);
    expect(error).toBeInstanceOf(OriginError);
    expect(error).not.toBeInstanceOf(NotFoundError);
    await expect(origin.ping()).resolves.toBeUndefined();
  });

  test('a connection reset is an OriginError', async () => {
    const server = await scripted((req) => req.socket.destroy());
    const origin = track(originAt(server.url));
    await expect(origin.stat('a.mp4')).rejects.toBeInstanceOf(OriginError);
    await expect(origin.read('a.mp4')).rejects.toBeInstanceOf(OriginError);
  });

  test('a server that never answers is OriginTimeoutError within the timeout', async () => {
    const hanging = await startHangingServer();
    servers.push(hanging);
    const origin = track(originAt(hanging.url, { timeoutMs: 300 }));
    const started = Date.now();
    const error = await origin.stat('a.mp4').catch((e) => e);
    expect(error).toBeInstanceOf(OriginTimeoutError);
    expect(error.status).toBe(504);
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(1000);
    await expect(origin.read('a.mp4')).rejects.toBeInstanceOf(OriginTimeoutError);
  });

  test('a body that stalls mid-way errors the stream with OriginTimeoutError', async () => {
    const server = await scripted((_req, res) => {
      res.writeHead(200, { 'content-length': 1000 });
      res.write(Buffer.alloc(100));
    });
    const origin = track(originAt(server.url, { timeoutMs: 300 }));
    const stream = await origin.read('a.mp4');
    const started = Date.now();
    const error = await collect(stream).catch((e) => e);
    expect(error).toBeInstanceOf(OriginTimeoutError);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  test('a body cut short of Content-Length errors the stream with OriginError', async () => {
    const server = await scripted((_req, res) => {
      res.writeHead(200, { 'content-length': 1000 });
      res.write(Buffer.alloc(500), () => res.destroy());
    });
    const origin = track(originAt(server.url));
    const error = await collect(await origin.read('a.mp4')).catch((e) => e);
    expect(error).toBeInstanceOf(OriginError);
  });

  test('a chunked 206 that ends before its Content-Range errors the stream with OriginError', async () => {
    const server = await scripted((_req, res) => {
      // No Content-Length, so only the range tells the body is short.
      res.writeHead(206, { 'content-range': 'bytes 0-999/5000', 'transfer-encoding': 'chunked' });
      res.end(Buffer.alloc(400));
    });
    const origin = track(originAt(server.url));
    const error = await collect(await origin.read('a.mp4', { start: 0, end: 999 })).catch((e) => e);
    expect(error).toBeInstanceOf(OriginError);
    expect(error.message).toMatch(/ended early/);
  });

  test('a 206 for a different start than asked is refused', async () => {
    const server = await scripted((_req, res) => {
      res.writeHead(206, { 'content-range': 'bytes 0-9/100', 'content-length': 10 });
      res.end(Buffer.alloc(10));
    });
    const origin = track(originAt(server.url));
    await expect(origin.read('a.mp4', { start: 50, end: 59 })).rejects.toBeInstanceOf(OriginError);
  });

  test('a 206 shorter than the range asked is refused', async () => {
    const server = await scripted((_req, res) => {
      res.writeHead(206, { 'content-range': 'bytes 0-9/100', 'content-length': 10 });
      res.end(Buffer.alloc(10));
    });
    const origin = track(originAt(server.url));
    await expect(origin.read('a.mp4', { start: 0, end: 49 })).rejects.toThrow(/shorter byte range/);
    await expect(origin.read('a.mp4')).rejects.toThrow(/shorter byte range/);
  });

  test('a server ignoring Range is cut off after the range, not read to the end', async () => {
    const total = 64 * 1024 * 1024;
    let finished = false;
    let closed = false;
    const server = await scripted((req, res) => {
      res.writeHead(200, { 'content-length': total });
      if (req.method === 'HEAD') {
        res.end();
        return;
      }
      const chunk = patternBytes(64 * 1024, 5);
      let sent = 0;
      const pump = () => {
        while (sent < total) {
          sent += chunk.length;
          if (!res.write(chunk)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      res.on('finish', () => {
        finished = true;
      });
      res.on('close', () => {
        closed = true;
      });
      pump();
    });
    const origin = track(originAt(server.url));
    const got = await collect(await origin.read('big.mp4', { start: 70_000, end: 70_009 }));
    expect(got.equals(patternBytes(64 * 1024, 5).subarray(70_000 - 65_536, 70_010 - 65_536))).toBe(true);
    for (let i = 0; i < 100 && !closed; i++) await new Promise((r) => setTimeout(r, 20));
    expect(closed).toBe(true);
    expect(finished).toBe(false);
    // stat learns the size from Content-Length and aborts the body as well.
    expect((await origin.stat('big.mp4')).size).toBe(total);
  });

  test('stat falls back to HEAD when the ranged GET reports no size', async () => {
    const server = await scripted((req, res) => {
      if (req.method === 'HEAD') {
        res.writeHead(200, { 'content-length': 4321, etag: '"v1"', 'content-type': 'video/webm' }).end();
        return;
      }
      res.writeHead(200, { 'transfer-encoding': 'chunked' });
      res.end('x');
    });
    const origin = track(originAt(server.url));
    const stat = await origin.stat('a.bin');
    expect(stat).toMatchObject({ size: 4321, version: '"v1"', contentType: 'video/webm' });
  });

  test('without an ETag the version is Last-Modified plus size', async () => {
    const server = await scripted((_req, res) => {
      res.writeHead(206, {
        'content-range': 'bytes 0-0/77',
        'content-length': 1,
        'last-modified': 'Tue, 01 Oct 2024 10:00:00 GMT',
      });
      res.end('x');
    });
    const origin = track(originAt(server.url));
    const stat = await origin.stat('a.mp4');
    expect(stat.size).toBe(77);
    expect(stat.version).toBe(`${Date.parse('Tue, 01 Oct 2024 10:00:00 GMT')}-77`);
    expect(stat.lastModified?.toISOString()).toBe('2024-10-01T10:00:00.000Z');
  });

  test('paths are percent-encoded per segment and asked without compression', async () => {
    const seen: Array<{ url: string | undefined; encoding: string | undefined; range: string | undefined }> =
      [];
    const server = await scripted((req, res) => {
      seen.push({ url: req.url, encoding: req.headers['accept-encoding'], range: req.headers.range });
      res.writeHead(206, { 'content-range': 'bytes 0-0/1', 'content-length': 1 }).end('x');
    });
    const origin = track(originAt(`${server.url}base/`));
    await origin.stat('dir one/100% #1 ?q=é.mp4');
    expect(seen[0]).toEqual({
      url: '/base/dir%20one/100%25%20%231%20%3Fq%3D%C3%A9.mp4',
      encoding: 'identity',
      range: 'bytes=0-0',
    });
  });
});

describe('HttpOrigin redirects', () => {
  let target: TestServer;
  let targetHits: string[];
  let origin: TestServer;
  let redirectTo: (req: { url?: string }) => string;
  const made: HttpOrigin[] = [];

  beforeAll(async () => {
    targetHits = [];
    target = await startScriptedServer((req, res) => {
      targetHits.push(req.url ?? '');
      res.writeHead(206, { 'content-range': 'bytes 0-0/42', 'content-length': 1, etag: '"t"' }).end('x');
    });
    origin = await startScriptedServer((req, res) => {
      if (req.url?.startsWith('/media/final')) {
        res.writeHead(206, { 'content-range': 'bytes 0-0/7', 'content-length': 1 }).end('x');
        return;
      }
      res.writeHead(302, { location: redirectTo(req) }).end();
    });
  });
  afterAll(async () => {
    for (const o of made) await o.destroy();
    await origin.close();
    await target.close();
  });

  function make(extra: Partial<HttpOriginOptions> = {}): HttpOrigin {
    const o = originAt(`${origin.url}media/`, extra);
    made.push(o);
    return o;
  }

  test('a redirect inside the base URL is followed', async () => {
    redirectTo = () => '/media/final/a.mp4';
    expect((await make().stat('a.mp4')).size).toBe(7);
  });

  test('a redirect to an allowlisted prefix is followed', async () => {
    redirectTo = () => `${target.url}cdn/a.mp4`;
    const before = targetHits.length;
    const stat = await make({ allowlist: [`${target.url}cdn`] }).stat('a.mp4');
    expect(stat).toMatchObject({ size: 42, version: '"t"' });
    expect(targetHits.length).toBe(before + 1);
  });

  test.each([
    ['another port', () => `${target.url}cdn/a.mp4`],
    ['a sibling path of the allowlisted prefix', () => `${target.url}cdn-private/a.mp4`],
    ['the base host outside the base path', () => `${origin.url}other/a.mp4`],
    ['a base-path look-alike', () => `${origin.url}media-private/a.mp4`],
    [
      'userinfo that spells the base host',
      () => `http://127.0.0.1:${origin.port}@127.0.0.1:${target.port}/cdn/a.mp4`,
    ],
    ['a non-http scheme', () => 'file:///etc/passwd'],
  ])('a redirect to %s is refused without a request there', async (_label, location) => {
    redirectTo = location;
    const allowlist = _label === 'another port' ? [] : [`${target.url}cdn/`];
    const before = targetHits.length;
    const error = await make({ allowlist })
      .stat('a.mp4')
      .catch((e) => e);
    expect(error).toBeInstanceOf(OriginError);
    expect(error.message).toMatch(/outside the allowed origins/);
    expect(targetHits.length).toBe(before);
  });

  test('more than three redirects are refused', async () => {
    let hops = 0;
    redirectTo = () => `/media/loop-${++hops}.mp4`;
    const error = await make()
      .stat('a.mp4')
      .catch((e) => e);
    expect(error).toBeInstanceOf(OriginError);
    expect(error.message).toMatch(/more than 3/);
    expect(hops).toBe(4);
  });

  test('a redirect to a forbidden address is refused at connect time', async () => {
    // Only the first server's address is trusted here, so the allowlisted target is refused by the
    // address check alone (the allowlist would let it through).
    const trustFirst = (ip: string) => ip !== '127.0.0.1' && isForbiddenAddress(ip);
    const second = await startScriptedServer((_req, res) => res.writeHead(200).end());
    try {
      for (const location of [
        `http://127.0.0.2:${second.port}/x.mp4`,
        // Without the guard this one would reach `second` through the IPv4-mapped form.
        `http://[::ffff:127.0.0.1]:${second.port}/x.mp4`,
      ]) {
        redirectTo = () => location;
        const prefix = location.replace(/x\.mp4$/, '');
        const o = make({ allowPrivate: false, isForbidden: trustFirst, allowlist: [prefix] });
        const error = await o.stat('a.mp4').catch((e) => e);
        expect(error, location).toBeInstanceOf(OriginError);
        expect(error.message, location).toMatch(REFUSED);
      }
      expect(second.requests()).toBe(0);
      // The same origin does reach the trusted address, so the refusal above is the guard's doing.
      redirectTo = () => '/media/final/a.mp4';
      expect((await make({ allowPrivate: false, isForbidden: trustFirst }).stat('a.mp4')).size).toBe(7);
    } finally {
      await second.close();
    }
  });
});

describe('HttpOrigin SSRF guard (allowPrivate false)', () => {
  let server: TestServer;
  const made: HttpOrigin[] = [];

  beforeAll(async () => {
    server = await startScriptedServer((_req, res) => {
      res.writeHead(206, { 'content-range': 'bytes 0-0/1', 'content-length': 1 }).end('x');
    });
  });
  afterAll(async () => {
    for (const o of made) await o.destroy();
    await server.close();
  });

  const hosts = (port: number) => [
    `http://127.0.0.1:${port}/`,
    `http://localhost:${port}/`,
    `http://[::1]:${port}/`,
    `http://0.0.0.0:${port}/`,
    'http://169.254.169.254/latest/meta-data/',
    `http://[::ffff:127.0.0.1]:${port}/`,
    `http://2130706433:${port}/`,
    `http://0x7f000001:${port}/`,
    `http://127.1:${port}/`,
  ];

  test('the test server is reachable when private targets are allowed', async () => {
    const o = originAt(server.url);
    made.push(o);
    expect((await o.stat('a.mp4')).size).toBe(1);
    expect(server.requests()).toBe(1);
  });

  test('every loopback, unspecified and metadata form is refused before any request', async () => {
    const before = server.requests();
    for (const baseUrl of hosts(server.port)) {
      const o = new HttpOrigin({ baseUrl, timeoutMs: 2000, allowlist: [], allowPrivate: false });
      made.push(o);
      const started = Date.now();
      for (const attempt of [
        () => o.stat('a.mp4'),
        () => o.read('a.mp4', { start: 0, end: 0 }),
        () => o.ping(),
      ]) {
        const error = await attempt().catch((e) => e);
        expect(error, baseUrl).toBeInstanceOf(OriginError);
        expect(error.message, baseUrl).toMatch(REFUSED);
      }
      expect(Date.now() - started, baseUrl).toBeLessThan(1500);
    }
    expect(server.requests()).toBe(before);
  });
});

describe('isUnderPrefix', () => {
  const prefix = new URL('http://example.com/media/');
  test.each([
    ['http://example.com/media/a.mp4', true],
    ['http://example.com/media/deep/a.mp4', true],
    ['http://example.com/media', true],
    ['http://example.com:80/media/a.mp4', true],
    ['http://example.com/media-private/a.mp4', false],
    ['http://example.com/other/a.mp4', false],
    ['https://example.com/media/a.mp4', false],
    ['http://example.com:8080/media/a.mp4', false],
    ['http://example.com@evil.com/media/a.mp4', false],
    ['http://example.com.evil.com/media/a.mp4', false],
    ['http://user:pass@example.com/media/a.mp4', false],
    ['http://EXAMPLE.com/media/a.mp4', true],
  ])('%s -> %s', (target, expected) => {
    expect(isUnderPrefix(new URL(target), prefix)).toBe(expected);
  });
});
