import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { expectJsonError, fetchBytes } from '../integration/helpers.js';
import { startHangingServer, startScriptedServer, type TestServer } from '../origin/servers.js';
import { FIXTURES_DIR } from '../support/fixtures.js';
import { startProxy, type TestProxy } from '../support/proxy.js';
import { startTestS3, type TestS3 } from '../support/s3.js';

/**
 * Quiet errors (design §6: public errors name no bucket, path, endpoint or credential). Each
 * origin failure is driven for real (S3 through s3rver, an HTTP origin, a folder) and the public
 * body is checked for what it must not say; the log line of the same request id must say it, so
 * an operator still learns what broke.
 */

const BUCKET = 'quiet-media-bucket';
const SAMPLE = path.join(FIXTURES_DIR, 'sample.mp4');

/** A proxy whose log lines are kept. */
async function loggedProxy(env: Record<string, string>) {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  const proxy = await startProxy({ LOG_LEVEL: 'debug', ...env }, { log });
  return { proxy, lines };
}

/** A loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

let requestCounter = 0;

/**
 * Asks `url` of `proxy` with a fresh request id, checks the answer is the design's JSON error
 * with `status` and a stable code, that its body names none of `secrets` nor any absolute path,
 * AWS variable, ffmpeg variable or credential, and returns the error plus the log lines written
 * under that request id.
 */
async function expectQuiet(
  target: { proxy: TestProxy; lines: Record<string, unknown>[] },
  url: string,
  status: number,
  secrets: string[],
) {
  const reqId = `quiet-${++requestCounter}`;
  const response = await fetchBytes(`${target.proxy.url}${url}`, { headers: { 'x-request-id': reqId } });
  const error = expectJsonError(response, status);
  expect(error.code).toMatch(/^[a-z_]+$/);
  const body = response.body.toString('utf8');
  for (const secret of secrets) expect(body, `${url} leaks ${secret}`).not.toContain(secret);
  expect(body).not.toMatch(/AWS_|FFMPEG|FFPROBE|credential/i);
  // Absolute paths: a slash-led path of two or more segments (`/tmp/x`, `/usr/bin/ffmpeg`).
  expect(body).not.toMatch(/(^|[^\w.])\/[\w.-]+\/[\w.-]+/);
  expect(body).not.toMatch(/127\.0\.0\.1|localhost/);
  const logged = target.lines.filter((line) => line.reqId === reqId);
  return { error, body, logged: JSON.stringify(logged) };
}

describe('S3 origin failures (s3rver)', () => {
  let s3: TestS3;
  let endpointHost: string;
  const savedEnv = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };

  beforeAll(async () => {
    s3 = await startTestS3();
    endpointHost = new URL(s3.endpoint).host;
    // The S3 adapter takes credentials from the standard AWS chain, as in production.
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' });
    await s3.createBucket(BUCKET);
    await s3.putObject(BUCKET, 'v/sample.mp4', await readFile(SAMPLE), 'video/mp4');
    await s3.putObject(BUCKET, 'v/.env', 'AWS_SECRET_ACCESS_KEY=hunter2\n', 'text/plain');
  });
  afterAll(async () => {
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: savedEnv.id, AWS_SECRET_ACCESS_KEY: savedEnv.secret });
    await s3?.close();
  });

  test('a bucket that does not exist: 502 naming no bucket or endpoint; the log names the bucket', async () => {
    const target = await loggedProxy({ ...s3.env, ORIGIN: 's3://no-such-quiet-bucket/v' });
    try {
      const { logged } = await expectQuiet(target, '/sample.mp4/ik-thumbnail.jpg?tr=w-100', 502, [
        'no-such-quiet-bucket',
        endpointHost,
        s3.endpoint,
      ]);
      expect(logged).toContain('no-such-quiet-bucket');
    } finally {
      await target.proxy.close();
    }
  });

  test('credentials S3 refuses: 502 with no credential hint; the log has it', async () => {
    const target = await loggedProxy({ ...s3.env, ORIGIN: `s3://${BUCKET}/v` });
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'WRONG', AWS_SECRET_ACCESS_KEY: 'wrong-secret' });
    try {
      const { logged } = await expectQuiet(target, '/sample.mp4?tr=w-100', 502, [BUCKET, endpointHost]);
      expect(logged).toContain('AWS_ACCESS_KEY_ID');
      expect(logged).toContain(BUCKET);
    } finally {
      Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' });
      await target.proxy.close();
    }
  });

  test('an endpoint nobody answers on: 502 naming no host or port', async () => {
    const port = await closedPort();
    const target = await loggedProxy({
      ...s3.env,
      S3_ENDPOINT: `http://127.0.0.1:${port}`,
      ORIGIN: `s3://${BUCKET}/v`,
    });
    try {
      const { logged } = await expectQuiet(target, '/sample.mp4/ik-metadata.json', 502, [
        BUCKET,
        String(port),
      ]);
      expect(logged).toContain(String(port));
    } finally {
      await target.proxy.close();
    }
  });

  test('a missing key and a stored dotfile: 404 naming no bucket', async () => {
    const target = await loggedProxy({ ...s3.env, ORIGIN: `s3://${BUCKET}/v` });
    try {
      await expectQuiet(target, '/nothing-here.mp4', 404, [BUCKET, endpointHost, 'v/nothing-here.mp4']);
      const dotfile = await expectQuiet(target, '/.env', 404, [BUCKET, endpointHost, 'hunter2']);
      expect(dotfile.error.message).toBe('Source not found');
    } finally {
      await target.proxy.close();
    }
  });
});

describe('HTTP origin failures', () => {
  let failing: TestServer;
  let hanging: TestServer;

  beforeAll(async () => {
    failing = await startScriptedServer((req, res) => {
      const status = req.url?.includes('denied') ? 403 : 500;
      res.writeHead(status, { 'content-type': 'text/plain' }).end(`secret backend page at ${req.url}`);
    });
    hanging = await startHangingServer();
  });
  afterAll(async () => {
    await failing?.close();
    await hanging?.close();
  });

  test.each([
    ['/broken.mp4', 502],
    ['/denied.mp4', 502],
  ])('an origin answering an error for %s: %s naming no host, port or origin body', async (url, status) => {
    const target = await loggedProxy({ ORIGIN: `${failing.url}media`, ALLOW_PRIVATE_ORIGINS: 'true' });
    try {
      await expectQuiet(target, url, status, [String(failing.port), 'secret backend page', '/media/']);
    } finally {
      await target.proxy.close();
    }
  });

  test('an origin nobody answers on: 502 naming no host or port; the log has the URL', async () => {
    const port = await closedPort();
    const target = await loggedProxy({
      ORIGIN: `http://127.0.0.1:${port}/media`,
      ALLOW_PRIVATE_ORIGINS: 'true',
    });
    try {
      const { logged } = await expectQuiet(target, '/sample.mp4', 502, [String(port)]);
      expect(logged).toContain(`127.0.0.1:${port}`);
    } finally {
      await target.proxy.close();
    }
  });

  test('an origin that does not answer in time: 504 naming no host or port', async () => {
    const target = await loggedProxy({
      ORIGIN: `http://127.0.0.1:${hanging.port}/media`,
      ALLOW_PRIVATE_ORIGINS: 'true',
      ORIGIN_TIMEOUT: '1',
    });
    try {
      const { logged } = await expectQuiet(target, '/sample.mp4', 504, [String(hanging.port)]);
      expect(logged).toContain(String(hanging.port));
    } finally {
      await target.proxy.close();
    }
  });

  test('an origin the SSRF guard refuses: 502 naming no address; the log names it', async () => {
    const target = await loggedProxy({ ORIGIN: `${failing.url}media` });
    try {
      const { logged } = await expectQuiet(target, '/sample.mp4', 502, [String(failing.port)]);
      expect(logged).toContain('127.0.0.1');
    } finally {
      await target.proxy.close();
    }
  });
});

describe('folder origin failures', () => {
  let base: string;

  beforeAll(async () => {
    base = await mkdtemp(path.join(os.tmpdir(), 'ikvp-quiet-'));
    const root = path.join(base, 'media');
    await mkdir(path.join(root, 'a', '.git'), { recursive: true });
    await writeFile(path.join(root, 'sample.mp4'), await readFile(SAMPLE));
    await writeFile(path.join(root, '.env'), 'AWS_SECRET_ACCESS_KEY=hunter2\n');
    await writeFile(path.join(root, 'a', '.git', 'config'), '[remote "origin"]\n');
  });
  afterAll(async () => {
    await rm(base, { recursive: true, force: true });
  });

  test('a folder that is gone: 502 naming no path; the log names the folder', async () => {
    const missing = path.join(base, 'gone');
    const target = await loggedProxy({ ORIGIN: missing });
    try {
      const { logged } = await expectQuiet(target, '/sample.mp4/ik-thumbnail.jpg', 502, [missing, base]);
      expect(logged).toContain(missing);
    } finally {
      await target.proxy.close();
    }
  });

  test.each([
    '/.env',
    '/a/.git/config',
    '/.env/ik-thumbnail.jpg',
    '/.env?tr=orig-true',
    '/a/.git/config/ik-metadata.json',
  ])('a real dotfile %s is never served: 404 like a missing source', async (url) => {
    const target = await loggedProxy({ ORIGIN: path.join(base, 'media') });
    try {
      const { error, body } = await expectQuiet(target, url, 404, [base, 'hunter2', 'remote']);
      expect(error.message).toBe('Source not found');
      expect(body).not.toContain('AWS_SECRET');
      // The same source under an ordinary name is served, so the folder itself is fine.
      expect((await fetchBytes(`${target.proxy.url}/sample.mp4`)).status).toBe(200);
    } finally {
      await target.proxy.close();
    }
  });
});

describe('media tool and readiness failures', () => {
  test('ffmpeg and ffprobe that cannot be started: 500 naming no binary path or variable', async () => {
    const target = await loggedProxy({
      FFMPEG_PATH: '/nonexistent/quiet/ffmpeg',
      FFPROBE_PATH: '/nonexistent/quiet/ffprobe',
    });
    try {
      const { error, logged } = await expectQuiet(target, '/sample.mp4/ik-thumbnail.jpg?tr=w-100', 500, [
        '/nonexistent',
      ]);
      expect(error.code).toBe('render_failed');
      expect(logged).toContain('/nonexistent/quiet/ff');
      expect(logged).toContain('FFMPEG_PATH');
    } finally {
      await target.proxy.close();
    }
  });

  test('/readyz says "not ready" and nothing else; every reason is in the log with the request id', async () => {
    const cacheDir = await mkdtemp(path.join(os.tmpdir(), 'ikvp-quiet-cache-'));
    const missingOrigin = path.join(cacheDir, 'no-origin-here');
    const target = await loggedProxy({
      ORIGIN: missingOrigin,
      FFMPEG_PATH: '/nonexistent/quiet/ffmpeg',
      CACHE_DIR: cacheDir,
    });
    try {
      // A cache folder replaced by a file cannot be written (as a full disk).
      await rm(cacheDir, { recursive: true, force: true });
      await writeFile(cacheDir, 'not a folder');
      const response = await fetchBytes(`${target.proxy.url}/readyz`, {
        headers: { 'x-request-id': 'quiet-ready' },
      });
      expect(response.status).toBe(503);
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(JSON.parse(response.body.toString())).toEqual({ status: 'not ready' });
      const logged = JSON.stringify(target.lines.filter((line) => line.reqId === 'quiet-ready'));
      expect(logged).toContain('/nonexistent/quiet/ffmpeg');
      expect(logged).toContain('not writable');
      expect(logged).toContain(missingOrigin);
    } finally {
      await target.proxy.close();
      await rm(cacheDir, { recursive: true, force: true });
    }
  });
});
