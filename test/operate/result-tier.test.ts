import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createFfmpegSpy, type FfmpegSpy } from '../support/ffmpeg-spy.js';
import { REAL_FFPROBE } from '../support/ffprobe.js';
import { startProxy, type TestProxy } from '../support/proxy.js';
import { startTestS3, type TestS3 } from '../support/s3.js';

const BUCKET = 'shared-results';
const PREFIX = 'fleet';
async function objectsInBucket(s3: TestS3): Promise<string[]> {
  const listing = await s3.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${PREFIX}/` }));
  return (listing.Contents ?? []).map((object) => object.Key!).filter(Boolean);
}

/** Polls the bucket (bounded) until it holds `count` objects: S3 writes happen after the response. */
async function waitForObjects(s3: TestS3, count: number, timeoutMs = 10_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  let keys = await objectsInBucket(s3);
  while (keys.length < count && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    keys = await objectsInBucket(s3);
  }
  return keys;
}

function restoreEnv(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

async function get(
  url: string,
): Promise<{ status: number; cache: string | null; etag: string | null; body: Buffer }> {
  const response = await fetch(url);
  const body = Buffer.from(await response.arrayBuffer());
  return {
    status: response.status,
    cache: response.headers.get('x-cache'),
    etag: response.headers.get('etag'),
    body,
  };
}

describe('shared S3 result tier across two proxy nodes', () => {
  let s3: TestS3;
  let nodeA: TestProxy;
  let nodeB: TestProxy;
  let ffmpegB: FfmpegSpy;
  let ffprobeB: FfmpegSpy;

  const savedCredentials = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };

  beforeAll(async () => {
    s3 = await startTestS3();
    // loadConfig does not carry credentials: the AWS SDK reads them from the process environment
    // (its standard chain), exactly as in production, so they go there and not into startProxy's env.
    process.env.AWS_ACCESS_KEY_ID = s3.env.AWS_ACCESS_KEY_ID;
    process.env.AWS_SECRET_ACCESS_KEY = s3.env.AWS_SECRET_ACCESS_KEY;
    await s3.createBucket(BUCKET);
    ffmpegB = await createFfmpegSpy();
    ffprobeB = await createFfmpegSpy({ real: REAL_FFPROBE });
    const shared = { ...s3.env, RESULT_BUCKET: `s3://${BUCKET}/${PREFIX}` };
    // Each node gets its own fresh CACHE_DIR from startProxy, so only the bucket is shared.
    nodeA = await startProxy(shared);
    nodeB = await startProxy({ ...shared, FFMPEG_PATH: ffmpegB.path, FFPROBE_PATH: ffprobeB.path });
    expect(nodeA.cacheDir).not.toBe(nodeB.cacheDir);
  });

  afterAll(async () => {
    await nodeA?.close();
    await nodeB?.close();
    await s3?.close();
    await ffmpegB?.remove();
    await ffprobeB?.remove();
    restoreEnv('AWS_ACCESS_KEY_ID', savedCredentials.id);
    restoreEnv('AWS_SECRET_ACCESS_KEY', savedCredentials.secret);
  });

  test("node B serves node A's thumbnail and video transform from the bucket without running ffmpeg", {
    timeout: 120_000,
  }, async () => {
    const thumbnail = '/sample.mp4/ik-thumbnail.jpg?tr=so-3,w-240';
    const video = '/sample.mp4?tr=w-320,du-2';

    const madeThumbnail = await get(nodeA.url + thumbnail);
    expect(madeThumbnail.status).toBe(200);
    expect(madeThumbnail.cache).toBe('MISS');
    const madeVideo = await get(nodeA.url + video);
    expect(madeVideo.status).toBe(200);
    expect(madeVideo.cache).toMatch(/^MISS/);

    const keys = await waitForObjects(s3, 2);
    expect(keys, 'objects A wrote to the shared bucket').toHaveLength(2);

    const servedThumbnail = await get(nodeB.url + thumbnail);
    expect(servedThumbnail.status).toBe(200);
    expect(servedThumbnail.cache).toMatch(/^HIT-(S3|DISK|MEMORY)$/);
    expect(servedThumbnail.etag).toBe(madeThumbnail.etag);
    expect(servedThumbnail.body.equals(madeThumbnail.body)).toBe(true);

    const servedVideo = await get(nodeB.url + video);
    expect(servedVideo.status).toBe(200);
    expect(servedVideo.cache).toMatch(/^HIT-(S3|DISK|MEMORY)$/);
    expect(servedVideo.etag).toBe(madeVideo.etag);
    expect(servedVideo.body.equals(madeVideo.body)).toBe(true);

    // B's ranged read (a seek) is also served from the shared copy.
    const ranged = await fetch(nodeB.url + video, { headers: { Range: 'bytes=100-199' } });
    expect(ranged.status).toBe(206);
    expect(Buffer.from(await ranged.arrayBuffer()).equals(madeVideo.body.subarray(100, 200))).toBe(true);

    expect(await ffmpegB.runs(), 'ffmpeg runs on node B').toEqual([]);
    expect(await ffprobeB.runs(), 'ffprobe runs on node B').toEqual([]);
  });

  test('an HLS segment made on node A is served by node B from the bucket', {
    timeout: 120_000,
  }, async () => {
    const before = (await objectsInBucket(s3)).length;
    const segment = '/sample.mp4/ik-abs/240/seg-1.m4s?tr=sr-240';
    const made = await get(nodeA.url + segment);
    expect(made.status).toBe(200);
    expect(made.cache).toBe('MISS');
    const keys = await waitForObjects(s3, before + 1);
    expect(keys.length).toBeGreaterThan(before);
    // The segment may land a moment after another object of the same job (its init), so poll B's answer too.
    let served = await get(nodeB.url + segment);
    for (let attempt = 0; attempt < 50 && served.cache === 'MISS'; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      served = await get(nodeB.url + segment);
    }
    expect(served.status).toBe(200);
    expect(served.cache).toMatch(/^HIT-(S3|DISK|MEMORY)$/);
    expect(served.body.equals(made.body)).toBe(true);
    expect(await ffmpegB.runs(), 'ffmpeg runs on node B').toEqual([]);
  });

  test("the wrapper really counts: a transform only B is asked for runs B's ffmpeg", {
    timeout: 60_000,
  }, async () => {
    const fresh = await get(`${nodeB.url}/sample.mp4/ik-thumbnail.jpg?tr=so-4,w-120`);
    expect(fresh.status).toBe(200);
    expect(fresh.cache).toBe('MISS');
    expect((await ffmpegB.runs()).length).toBeGreaterThan(0);
  });
});
