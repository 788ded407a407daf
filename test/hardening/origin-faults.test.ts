import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SNIFF_BYTES } from '../../src/media/sniff.js';
import { expectJsonError, fetchBytes } from '../integration/helpers.js';
import { startScriptedServer, type TestServer } from '../origin/servers.js';
import { FIXTURES_DIR } from '../support/fixtures.js';
import { startProxy, type TestProxy } from '../support/proxy.js';

/**
 * Origin faults (issue 5) against a real HTTP origin on 127.0.0.1 (ALLOW_PRIVATE_ORIGINS=true,
 * ORIGIN_TIMEOUT=1): 5xx -> 502, no answer -> 504 within about the timeout, a reset or a short
 * body while ffmpeg reads -> 502. In every case nothing is cached (the same URL fails again the
 * same way, and once the origin is healthy it is a fresh MISS that succeeds) and no job slot is
 * held afterwards.
 */

/** How the test origin misbehaves; only bodies larger than the sniffed head are sabotaged. */
type Mode = 'ok' | 'status500' | 'hang' | 'reset-body' | 'short-body' | 'stall-body';

const TIMEOUT_SECONDS = 1;
const SABOTAGE_AFTER_BYTES = 8192;
let source: Buffer;
let mode: Mode = 'ok';
const pending = new Set<ServerResponse>();
let server: TestServer;
let proxy: TestProxy;

/** Serves sample.mp4 under every path, with Range and a stable ETag, misbehaving per `mode`. */
function handle(req: IncomingMessage, res: ServerResponse): void {
  if (mode === 'status500') {
    res.writeHead(500, { 'content-type': 'text/plain' }).end('boom');
    return;
  }
  if (mode === 'hang') {
    pending.add(res);
    return;
  }
  const match = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
  const start = match ? Number(match[1]) : 0;
  const end = match?.[2] ? Math.min(Number(match[2]), source.length - 1) : source.length - 1;
  const body = source.subarray(start, end + 1);
  res.writeHead(match ? 206 : 200, {
    'content-type': 'video/mp4',
    'content-length': String(body.length),
    etag: '"sample-v1"',
    'accept-ranges': 'bytes',
    ...(match ? { 'content-range': `bytes ${start}-${end}/${source.length}` } : {}),
  });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  const sabotage = body.length > SNIFF_BYTES ? mode : 'ok';
  if (sabotage === 'ok') {
    res.end(body);
    return;
  }
  // A few KB (less than any frame ffmpeg needs), then: a TCP reset, a clean close short of
  // Content-Length, or silence.
  res.write(body.subarray(0, Math.min(SABOTAGE_AFTER_BYTES, Math.floor(body.length / 2))));
  if (sabotage === 'reset-body') setTimeout(() => req.socket.resetAndDestroy(), 20);
  else if (sabotage === 'short-body') setTimeout(() => req.socket.end(), 20);
  else pending.add(res);
}

beforeAll(async () => {
  source = await readFile(path.join(FIXTURES_DIR, 'sample.mp4'));
  server = await startScriptedServer(handle);
  proxy = await startProxy({
    ORIGIN: server.url,
    ALLOW_PRIVATE_ORIGINS: 'true',
    ORIGIN_TIMEOUT: String(TIMEOUT_SECONDS),
  });
});

afterAll(async () => {
  for (const res of pending) res.destroy();
  await proxy?.close();
  await server?.close();
});

/** Waits (bounded) until the limiter holds no job, and returns how long that took. */
async function slotsReleased(): Promise<number> {
  const started = Date.now();
  const busy = () => proxy.proxy.limiter.stats().running > 0 || proxy.proxy.service.liveJobCount > 0;
  for (let i = 0; i < 100 && busy(); i++) await new Promise((resolve) => setTimeout(resolve, 50));
  expect(proxy.proxy.limiter.stats()).toMatchObject({ running: 0, queued: 0 });
  expect(proxy.proxy.service.liveJobCount).toBe(0);
  return Date.now() - started;
}

/**
 * Asks `target` twice under `fault` (same error both times, nothing cached), then once the origin
 * is healthy again: a fresh MISS that succeeds.
 */
async function expectUncachedFailure(
  target: string,
  fault: Mode,
  status: number,
  code: RegExp,
): Promise<number[]> {
  mode = fault;
  const took: number[] = [];
  try {
    for (let attempt = 0; attempt < 2; attempt++) {
      const started = Date.now();
      const response = await fetchBytes(`${proxy.url}${target}`);
      took.push(Date.now() - started);
      expect(expectJsonError(response, status).code).toMatch(code);
      expect(response.headers.get('x-cache')).toBeNull();
      await slotsReleased();
    }
  } finally {
    mode = 'ok';
    for (const res of pending) res.destroy();
    pending.clear();
  }
  const healed = await fetchBytes(`${proxy.url}${target}`);
  expect(healed.status, healed.body.toString().slice(0, 200)).toBe(200);
  expect(healed.headers.get('x-cache')).toMatch(/^MISS/);
  await slotsReleased();
  return took;
}

describe('HTTP origin faults', () => {
  test('the origin answering 500 is a 502, never cached', async () => {
    await expectUncachedFailure('/five-hundred.mp4/ik-metadata.json', 'status500', 502, /origin_error/);
  });

  test('an origin that never answers is a 504 within about ORIGIN_TIMEOUT', async () => {
    const took = await expectUncachedFailure(
      '/hang.mp4/ik-thumbnail.jpg?tr=so-1,w-100',
      'hang',
      504,
      /origin_timeout/,
    );
    for (const ms of took) expect(ms).toBeLessThan(TIMEOUT_SECONDS * 1000 + 2500);
  });

  test('a connection reset mid-body while the thumbnail is probed is a 502', async () => {
    await expectUncachedFailure(
      '/reset-probe.mp4/ik-thumbnail.jpg?tr=so-6,w-100',
      'reset-body',
      502,
      /origin_error/,
    );
  });

  test('a connection reset mid-body while ffmpeg decodes the frame (after a good probe) is a 502', async () => {
    // The metadata request probes the source with a healthy origin, so the facts are known and
    // the thumbnail job itself meets the reset.
    expect((await fetchBytes(`${proxy.url}/reset-job.mp4/ik-metadata.json`)).status).toBe(200);
    await expectUncachedFailure(
      '/reset-job.mp4/ik-thumbnail.jpg?tr=so-9,w-100',
      'reset-body',
      502,
      /origin_error/,
    );
  });

  test('a truncated body (closed short of Content-Length) is a 502, for a thumbnail and a transform', async () => {
    await expectUncachedFailure(
      '/short.mp4/ik-thumbnail.jpg?tr=so-6,w-100',
      'short-body',
      502,
      /origin_error/,
    );
    await expectUncachedFailure('/short-video.mp4?tr=w-160,du-1', 'short-body', 502, /origin_error/);
    expect((await fetchBytes(`${proxy.url}/short-job.mp4/ik-metadata.json`)).status).toBe(200);
    await expectUncachedFailure(
      '/short-job.mp4/ik-thumbnail.jpg?tr=so-9,w-100',
      'short-body',
      502,
      /origin_error/,
    );
  });

  test('a body that stalls during a job is a 504 and frees the job slot within about the timeout', async () => {
    expect((await fetchBytes(`${proxy.url}/stall-job.mp4/ik-metadata.json`)).status).toBe(200);
    const took = await expectUncachedFailure(
      '/stall-job.mp4/ik-thumbnail.jpg?tr=so-9,w-100',
      'stall-body',
      504,
      /origin_timeout/,
    );
    for (const ms of took) expect(ms).toBeLessThan(TIMEOUT_SECONDS * 1000 + 3000);
  });
});
