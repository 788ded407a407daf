import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createCache } from '../../src/cache/index.js';
import { GCS_ENDPOINT, loadConfig } from '../../src/config/index.js';
import { createOrigin } from '../../src/origin/index.js';
import { S3Origin } from '../../src/origin/s3.js';
import { bodyFor, drain, metaFor } from '../cache/bodies.js';
import { startTestS3, type TestS3 } from '../support/s3.js';
import { originContract } from './origin-contract.js';
import { writableOriginContract } from './write-contract.js';

/**
 * A pass-through in front of s3rver that records every request's headers, so the tests can show
 * what the S3 adapter sends to GCS's XML API (which refuses the SDK's default checksum headers and
 * `aws-chunked` bodies).
 */
async function startRecorder(
  target: string,
): Promise<{ url: string; seen: IncomingHttpHeaders[]; close(): Promise<void> }> {
  const upstream = new URL(target);
  const seen: IncomingHttpHeaders[] = [];
  const server: Server = createServer((req, res) => {
    seen.push(req.headers);
    const forward = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** What GCS's XML API rejects or does not implement. */
function gcsIncompatible(headers: IncomingHttpHeaders): string[] {
  return Object.entries(headers)
    .filter(
      ([name, value]) =>
        name.startsWith('x-amz-checksum') ||
        name === 'x-amz-sdk-checksum-algorithm' ||
        name === 'x-amz-decoded-content-length' ||
        (name === 'content-encoding' && String(value).includes('aws-chunked')) ||
        (name === 'x-amz-content-sha256' && String(value).startsWith('STREAMING-')),
    )
    .map(([name, value]) => `${name}: ${value}`);
}

/** HMAC keys travel as AWS credentials (the SDK's standard chain reads them from the environment). */
const HMAC = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' };

let shared: { s3: TestS3; recorder: Awaited<ReturnType<typeof startRecorder>> } | undefined;

originContract('gs (the S3 adapter with the GCS settings, against s3rver)', async () => {
  const s3 = await startTestS3();
  await s3.createBucket('media');
  const recorder = await startRecorder(s3.endpoint);
  shared = { s3, recorder };
  Object.assign(process.env, HMAC);
  // Only the endpoint is overridden (as the README says tests do): path-style and region `auto`
  // come from the gs:// defaults.
  const origin = createOrigin(
    loadConfig({ ORIGIN: 'gs://media/videos', S3_ENDPOINT: recorder.url, ...HMAC }),
  );
  return {
    origin,
    put: (p, bytes) => s3.putObject('media', `videos/${p}`, bytes),
    async teardown() {
      (origin as S3Origin).destroy();
    },
  };
});

let writeRecorder: Awaited<ReturnType<typeof startRecorder>> | undefined;

writableOriginContract(
  'gs (uploads through the S3 adapter with the GCS settings, against s3rver)',
  async () => {
    const s3 = await startTestS3();
    await s3.createBucket('media');
    writeRecorder = await startRecorder(s3.endpoint);
    Object.assign(process.env, HMAC);
    const origin = createOrigin(
      loadConfig({ ORIGIN: 'gs://media/videos', S3_ENDPOINT: writeRecorder.url, ...HMAC }),
    ) as S3Origin;
    return {
      origin,
      atomicCreate: false,
      leftovers: () => s3.writerLeftovers('media', 'videos'),
      async teardown() {
        origin.destroy();
        await s3.close();
      },
    };
  },
);

describe('gs:// settings', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'gcs-'));
  });
  afterAll(async () => {
    await writeRecorder?.close();
    await shared?.recorder.close();
    await shared?.s3.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('default to GCS: storage.googleapis.com, path-style, region auto; S3_* and AWS_REGION override', () => {
    const config = loadConfig({ ORIGIN: 'gs://bucket/some/prefix' });
    expect(config.origin).toEqual({ kind: 'gs', bucket: 'bucket', prefix: 'some/prefix/' });
    expect(config.gcs).toEqual({ endpoint: GCS_ENDPOINT, forcePathStyle: true, region: 'auto' });
    // s3:// keeps its own defaults beside it.
    expect(config.s3).toEqual({ endpoint: undefined, forcePathStyle: false, region: 'us-east-1' });
    const overridden = loadConfig({
      ORIGIN: 'gs://bucket',
      S3_ENDPOINT: 'http://127.0.0.1:9000',
      S3_FORCE_PATH_STYLE: 'false',
      AWS_REGION: 'europe-west1',
    });
    expect(overridden.gcs).toEqual({
      endpoint: 'http://127.0.0.1:9000',
      forcePathStyle: false,
      region: 'europe-west1',
    });
    const origin = createOrigin(config);
    expect(origin).toBeInstanceOf(S3Origin);
    (origin as S3Origin).destroy();
  });

  test('uploads (multipart, copy, conditional records) carried no header GCS rejects', () => {
    expect(writeRecorder, 'the write contract suite ran first').toBeDefined();
    const seen = writeRecorder!.seen;
    // Multipart parts and a copy were among them.
    expect(seen.some((h) => h['x-amz-copy-source'] !== undefined)).toBe(true);
    expect(seen.flatMap(gcsIncompatible)).toEqual([]);
  });

  test('no request of the contract suite carried a header GCS rejects', () => {
    expect(shared, 'the contract suite ran first').toBeDefined();
    expect(shared!.recorder.seen.length).toBeGreaterThan(20);
    expect(shared!.recorder.seen.flatMap(gcsIncompatible)).toEqual([]);
    // Path-style: the bucket is in the path, not the host name.
    expect(shared!.recorder.seen.every((h) => !String(h.host).startsWith('media.'))).toBe(true);
  });

  test('RESULT_BUCKET=gs:// writes and reads the result tier without checksum headers or aws-chunked bodies', async () => {
    const { s3, recorder } = shared!;
    await s3.createBucket('results');
    const before = recorder.seen.length;
    const env = { ...HMAC, S3_ENDPOINT: recorder.url, RESULT_BUCKET: 'gs://results/out' };
    const nodeA = await createCache(loadConfig({ ...env, CACHE_DIR: path.join(dir, 'a') }), {
      onError: () => undefined,
    });
    expect(nodeA.stores.map((store) => store.tier)).toEqual(['memory', 'disk', 's3']);
    const body = bodyFor('gcs-result', 300_000);
    await nodeA.put('gcs-result', metaFor(body.length), { buffer: body });
    await nodeA.close();
    const nodeB = await createCache(loadConfig({ ...env, CACHE_DIR: path.join(dir, 'b') }), {
      onError: () => undefined,
    });
    const hit = await nodeB.get('gcs-result');
    expect(hit?.tier).toBe('s3');
    expect((await drain(await hit!.open())).equals(body)).toBe(true);
    await nodeB.close();
    const requests = recorder.seen.slice(before);
    expect(requests.some((h) => h['content-length'] === String(body.length))).toBe(true);
    expect(requests.flatMap(gcsIncompatible)).toEqual([]);
  });
});
