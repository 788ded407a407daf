import { readFile } from 'node:fs/promises';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createFfmpegSpy, type FfmpegSpy } from '../support/ffmpeg-spy.js';
import { REAL_FFPROBE } from '../support/ffprobe.js';
import { ensureLargeFixture, fixturePath, LARGE_FIXTURE } from '../support/fixtures.js';
import { decodePixels, meanAbsoluteDifference, referenceFrame } from '../support/pixels.js';
import { startProxy, type TestProxy } from '../support/proxy.js';
import { startTestS3, type TestS3 } from '../support/s3.js';
import { expectJsonError, fetchBytes } from './helpers.js';

/**
 * A transparent HTTP pass-through in front of s3rver that counts the response bytes S3 really
 * sent (headers excluded), independently of the proxy's own accounting. Request headers (Host
 * included) go through untouched, so SigV4 signatures still verify.
 */
interface CountingPassThrough {
  url: string;
  bytesSent(): number;
  /** Resolves once no upstream transfer is open (bounded), so late bytes are counted too. */
  settled(): Promise<void>;
  requests(): number;
  reset(): void;
  close(): Promise<void>;
}

async function startCountingPassThrough(target: string): Promise<CountingPassThrough> {
  const upstream = new URL(target);
  let bytes = 0;
  let requests = 0;
  let open = 0;
  const server: Server = createServer((clientRequest, clientResponse) => {
    requests++;
    open++;
    let finished = false;
    const finish = () => {
      if (!finished) open--;
      finished = true;
    };
    clientResponse.on('close', finish);
    const forwarded = httpRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: clientRequest.method,
        path: clientRequest.url,
        headers: clientRequest.headers,
      },
      (upstreamResponse) => {
        clientResponse.writeHead(upstreamResponse.statusCode ?? 502, upstreamResponse.headers);
        upstreamResponse.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
        });
        upstreamResponse.pipe(clientResponse);
        // A reader that hangs up early (ffmpeg seeking) stops the upstream transfer too.
        clientResponse.on('close', () => upstreamResponse.destroy());
      },
    );
    forwarded.on('error', () => clientResponse.destroy());
    clientRequest.pipe(forwarded);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    bytesSent: () => bytes,
    async settled() {
      for (let waited = 0; open > 0 && waited < 5000; waited += 20) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    requests: () => requests,
    reset() {
      bytes = 0;
      requests = 0;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const BUCKET = 'media-origin';
let s3: TestS3;
let passThrough: CountingPassThrough;
let proxy: TestProxy;
let ffmpegSpy: FfmpegSpy;
let ffprobeSpy: FfmpegSpy;
let largePath: string;
let largeSize: number;

beforeAll(async () => {
  largePath = await ensureLargeFixture();
  const large = await readFile(largePath);
  largeSize = large.length;
  expect(largeSize).toBeGreaterThanOrEqual(LARGE_FIXTURE.minBytes);
  s3 = await startTestS3();
  // The S3 adapter takes credentials from the standard AWS chain, as in production.
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' });
  await s3.createBucket(BUCKET);
  await s3.putObject(BUCKET, 'videos/large.mp4', large, 'video/mp4');
  await s3.putObject(BUCKET, 'videos/sample.mp4', await readFile(fixturePath('sample.mp4')), 'video/mp4');
  await s3.putObject(BUCKET, 'videos/phone/rotated.mp4', await readFile(fixturePath('rotated-phone.mp4')));
  passThrough = await startCountingPassThrough(s3.endpoint);
  ffmpegSpy = await createFfmpegSpy();
  ffprobeSpy = await createFfmpegSpy({ real: REAL_FFPROBE });
  proxy = await startProxy({
    ...s3.env,
    S3_ENDPOINT: passThrough.url,
    ORIGIN: `s3://${BUCKET}/videos`,
    FFMPEG_PATH: ffmpegSpy.path,
    FFPROBE_PATH: ffprobeSpy.path,
  });
}, 120_000);

afterAll(async () => {
  await proxy?.close();
  await passThrough?.close();
  await s3?.close();
  await ffmpegSpy?.remove();
  await ffprobeSpy?.remove();
});

/** A proxy with nothing cached yet (no probe, no output), so a request costs what a cold one does. */
function startColdProxy(): Promise<TestProxy> {
  return startProxy({ ...s3.env, S3_ENDPOINT: passThrough.url, ORIGIN: `s3://${BUCKET}/videos` });
}

/** Runs one cold request and returns the origin bytes it cost, by S3's count and by the proxy's own. */
async function coldBytes(url: string): Promise<{ status: number; fromS3: number; fromOrigin: number }> {
  const cold = await startColdProxy();
  try {
    await passThrough.settled();
    passThrough.reset();
    const response = await fetchBytes(cold.url + url);
    await passThrough.settled();
    return {
      status: response.status,
      fromS3: passThrough.bytesSent(),
      fromOrigin: cold.proxy.origin.stats().bytes,
    };
  } finally {
    await cold.close();
  }
}

describe('a thumbnail in the middle of a large S3 object reads only part of it', () => {
  // The source endpoint answers ffmpeg in windows (a 206 shorter than asked, ffmpeg reconnects
  // for more), so a seek wastes at most one small window instead of what the kernel buffers.
  test.each([
    { tr: 'so-30,w-300', label: 'so-30' },
    { tr: 'so-idu_mul_0.5,w-200', label: 'half the duration' },
  ])(
    `a cold thumbnail at $label of the ${LARGE_FIXTURE.duration} s 1080p fixture reads < 25% of the object`,
    async ({ tr }) => {
      const cost = await coldBytes(`/large.mp4/ik-thumbnail.jpg?tr=${tr}`);

      expect(cost.status).toBe(200);
      // Something was read (the counters are live), but far from the whole object.
      expect(cost.fromS3).toBeGreaterThan(0);
      expect(cost.fromOrigin).toBeGreaterThan(0);
      expect(cost.fromS3 / largeSize).toBeLessThan(0.25);
      expect(cost.fromOrigin / largeSize).toBeLessThan(0.25);
    },
  );

  test('the so-30 thumbnail over S3 is really the frame at 30 s', async () => {
    const response = await fetchBytes(`${proxy.url}/large.mp4/ik-thumbnail.jpg?tr=so-30,w-300,f-png`);
    expect(response.status, response.body.toString('utf8').slice(0, 300)).toBe(200);
    const thumbnail = await decodePixels(response.body);
    expect([thumbnail.width, thumbnail.height]).toEqual([300, 169]);
    const scaled = async (seconds: number) =>
      decodePixels(
        await sharp(await referenceFrame(largePath, seconds))
          .resize(300, 169, { fit: 'fill' })
          .png()
          .toBuffer(),
      );
    const atThirty = meanAbsoluteDifference(thumbnail, await scaled(30));
    expect(atThirty).toBeLessThan(3);
    expect(meanAbsoluteDifference(thumbnail, await scaled(0))).toBeGreaterThan(atThirty + 2);
  });

  test('metadata of the large object over S3', async () => {
    const response = await fetchBytes(`${proxy.url}/large.mp4/ik-metadata.json`);
    expect(response.status).toBe(200);
    const document = JSON.parse(response.body.toString('utf8'));
    expect(document.duration).toBeCloseTo(LARGE_FIXTURE.duration, 0);
    expect([document.width, document.height]).toEqual([LARGE_FIXTURE.width, LARGE_FIXTURE.height]);
    expect(document.size).toBe(largeSize);
  });

  test('a small Range of the original is streamed, not fetched whole', async () => {
    await passThrough.settled();
    passThrough.reset();
    const response = await fetchBytes(`${proxy.url}/large.mp4`, { headers: { Range: 'bytes=1000-1099' } });
    expect(response.status).toBe(206);
    expect(response.body.length).toBe(100);
    await passThrough.settled();
    expect(passThrough.bytesSent()).toBeLessThan(1024 * 1024);
  });

  test('ffmpeg and ffprobe only ever see loopback URLs of the proxy, never S3 or credentials', async () => {
    const runs = [...(await ffmpegSpy.runs()), ...(await ffprobeSpy.runs())];
    expect(runs.length).toBeGreaterThan(0);
    const s3Port = new URL(s3.endpoint).port;
    const passThroughPort = new URL(passThrough.url).port;
    for (const run of runs) {
      const inputs = [...run.argv.matchAll(/-i (\S+)/g)].map((match) => match[1]!);
      expect(inputs.length, run.argv).toBeGreaterThan(0);
      // pipe:0 is a frame file the proxy cut from the index itself (stills).
      for (const input of inputs) expect(input).toMatch(/^(http:\/\/127\.0\.0\.1:\d+\/s\/[0-9a-f]+|pipe:0)$/);
      expect(run.argv).not.toContain(`:${s3Port}`);
      expect(run.argv).not.toContain(`:${passThroughPort}`);
      expect(run.argv).not.toContain(BUCKET);
      expect(run.argv).not.toContain('S3RVER');
    }
  });
});

describe('thumbnails and metadata over S3', () => {
  test('a thumbnail of sample.mp4 is the right frame size and a JPEG', async () => {
    const response = await fetchBytes(`${proxy.url}/sample.mp4/ik-thumbnail.jpg?tr=so-5,w-300`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('image/jpeg');
    const meta = await sharp(response.body).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', 300, 169]);
  });

  test('a rotated clip in a sub-folder without Content-Type gives a portrait thumbnail', async () => {
    const response = await fetchBytes(`${proxy.url}/phone/rotated.mp4/ik-thumbnail.jpg?tr=w-270`);
    expect(response.status).toBe(200);
    const meta = await sharp(response.body).metadata();
    expect([meta.width, meta.height]).toEqual([270, 480]);
  });

  test('metadata of sample.mp4 over S3', async () => {
    const response = await fetchBytes(`${proxy.url}/sample.mp4/ik-metadata.json`);
    expect(response.status).toBe(200);
    const document = JSON.parse(response.body.toString('utf8'));
    expect(document).toMatchObject({
      width: 1280,
      height: 720,
      videoCodec: 'h264',
      audioCodec: 'aac',
      hasAudio: true,
    });
    expect(document.duration).toBeCloseTo(12, 1);
  });

  test.each([
    '/missing.mp4',
    '/missing.mp4/ik-thumbnail.jpg?tr=w-100',
    '/missing.mp4/ik-metadata.json',
    '/phone/missing.mp4',
  ])('a missing key %s -> 404 JSON error', async (url) => {
    const error = expectJsonError(await fetchBytes(proxy.url + url), 404);
    expect(error.code).toBe('not_found');
  });
});
