import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { fixturePath } from '../support/fixtures.js';
import { startProxy, type TestProxy } from '../support/proxy.js';
import { startTestS3, type TestS3 } from '../support/s3.js';
import { comparableHeaders, expectJsonError, fetchBytes } from './helpers.js';

/** A running proxy whose origin holds `sample.mp4` at its root. */
interface OriginSetup {
  proxy: TestProxy;
  close(): Promise<void>;
}

async function fsOrigin(): Promise<OriginSetup> {
  const proxy = await startProxy();
  return { proxy, close: () => proxy.close() };
}

async function s3Origin(sample: Buffer): Promise<OriginSetup> {
  const s3: TestS3 = await startTestS3();
  // The S3 adapter takes credentials from the standard AWS chain, as in production.
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' });
  await s3.createBucket('originals');
  // No Content-Type on upload: the proxy must still answer video/mp4 (from the extension).
  await s3.putObject('originals', 'media/sample.mp4', sample);
  const proxy = await startProxy({ ...s3.env, ORIGIN: 's3://originals/media' });
  return {
    proxy,
    async close() {
      await proxy.close();
      await s3.close();
    },
  };
}

const sampleBytes = await readFile(fixturePath('sample.mp4'));
const size = sampleBytes.length;

describe.each([
  { origin: 'local folder', setup: fsOrigin },
  { origin: 'S3 (s3rver)', setup: () => s3Origin(sampleBytes) },
])('originals from a $origin', ({ setup }) => {
  let running: OriginSetup;
  let base: string;

  beforeAll(async () => {
    running = await setup();
    base = running.proxy.url;
  });
  afterAll(async () => {
    await running?.close();
  });

  test.each(['/sample.mp4', '/sample.mp4?tr=orig-true', '/tr:orig-true/sample.mp4'])(
    'GET %s returns the exact source bytes as video/mp4 with a strong ETag',
    async (url) => {
      const response = await fetchBytes(base + url);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('video/mp4');
      expect(response.headers.get('content-length')).toBe(String(size));
      expect(response.headers.get('accept-ranges')).toBe('bytes');
      expect(response.headers.get('etag')).toMatch(/^"[^"]+"$/);
      expect(response.body.equals(sampleBytes)).toBe(true);
    },
  );

  test('with and without orig-true the original has one identity', async () => {
    const plain = await fetchBytes(`${base}/sample.mp4`, { method: 'HEAD' });
    const explicit = await fetchBytes(`${base}/sample.mp4?tr=orig-true`, { method: 'HEAD' });
    expect(plain.headers.get('etag')).toBeTruthy();
    expect(explicit.headers.get('etag')).toBe(plain.headers.get('etag'));
  });

  test.each([
    { range: 'bytes=0-99', start: 0, end: 99 },
    { range: 'bytes=100-', start: 100, end: size - 1 },
    { range: 'bytes=-100', start: size - 100, end: size - 1 },
    { range: `bytes=${size - 10}-${size + 1000}`, start: size - 10, end: size - 1 },
  ])('Range $range -> 206 with the exact slice', async ({ range, start, end }) => {
    const response = await fetchBytes(`${base}/sample.mp4`, { headers: { Range: range } });
    expect(response.status).toBe(206);
    expect(response.headers.get('content-range')).toBe(`bytes ${start}-${end}/${size}`);
    expect(response.headers.get('content-length')).toBe(String(end - start + 1));
    expect(response.headers.get('content-type')).toBe('video/mp4');
    expect(response.body.equals(sampleBytes.subarray(start, end + 1))).toBe(true);
  });

  test('Range on orig-true behaves like the bare path', async () => {
    const response = await fetchBytes(`${base}/sample.mp4?tr=orig-true`, {
      headers: { Range: 'bytes=10-19' },
    });
    expect(response.status).toBe(206);
    expect(response.headers.get('content-range')).toBe(`bytes 10-19/${size}`);
    expect(response.body.equals(sampleBytes.subarray(10, 20))).toBe(true);
  });

  test.each([`bytes=${size}-`, `bytes=${size + 5}-${size + 10}`])(
    'unsatisfiable Range %s -> 416 with Content-Range bytes */size',
    async (range) => {
      const response = await fetchBytes(`${base}/sample.mp4`, { headers: { Range: range } });
      expect(response.status).toBe(416);
      expect(response.headers.get('content-range')).toBe(`bytes */${size}`);
      expectJsonError(response, 416);
    },
  );

  test('If-None-Match with the ETag -> 304 without a body; a different ETag -> 200', async () => {
    const first = await fetchBytes(`${base}/sample.mp4`, { method: 'HEAD' });
    const etag = first.headers.get('etag')!;
    const revalidated = await fetchBytes(`${base}/sample.mp4`, { headers: { 'If-None-Match': etag } });
    expect(revalidated.status).toBe(304);
    expect(revalidated.body.length).toBe(0);
    expect(revalidated.headers.get('etag')).toBe(etag);
    const listed = await fetchBytes(`${base}/sample.mp4`, {
      headers: { 'If-None-Match': `"other", ${etag}` },
    });
    expect(listed.status).toBe(304);
    const stale = await fetchBytes(`${base}/sample.mp4`, { headers: { 'If-None-Match': '"not-this-one"' } });
    expect(stale.status).toBe(200);
    expect(stale.body.equals(sampleBytes)).toBe(true);
  });

  test.each<Record<string, string>>([{}, { Range: 'bytes=0-99' }])(
    'HEAD equals GET without the body (headers %o)',
    async (headers) => {
      const get = await fetchBytes(`${base}/sample.mp4`, { headers });
      const head = await fetchBytes(`${base}/sample.mp4`, { method: 'HEAD', headers });
      expect(head.status).toBe(get.status);
      expect(head.body.length).toBe(0);
      expect(comparableHeaders(head.headers)).toEqual(comparableHeaders(get.headers));
    },
  );

  test.each([
    '/missing.mp4',
    '/missing.mp4?tr=orig-true',
    '/missing.mp4/ik-thumbnail.jpg',
    '/missing.mp4/ik-metadata.json',
    '/no/such/dir/clip.mp4',
  ])('a missing source %s -> 404 JSON error, never cached', async (url) => {
    const response = await fetchBytes(base + url);
    const error = expectJsonError(response, 404);
    expect(error.code).toBe('not_found');
    expect(response.headers.get('etag')).toBeNull();
  });

  test('HEAD of a missing source -> 404 with no body', async () => {
    const response = await fetchBytes(`${base}/missing.mp4`, { method: 'HEAD' });
    expect(response.status).toBe(404);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.body.length).toBe(0);
  });
});
