import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ffprobeBytes } from '../support/ffprobe.js';
import { startProxy, type TestProxy } from '../support/proxy.js';
import { startTestS3, type TestS3 } from '../support/s3.js';
import { waitFor } from '../support/wait.js';
import { publish } from './support.js';

/**
 * With an S3 origin the recording goes into the bucket under the origin's prefix (through the
 * origin's write side: staged, then committed) and is served from there like any source.
 */

describe('live: recording into an S3 origin', () => {
  let s3: TestS3;
  let proxy: TestProxy;

  beforeAll(async () => {
    s3 = await startTestS3();
    await s3.createBucket('media');
    // The AWS SDK reads its credentials from the process environment.
    process.env.AWS_ACCESS_KEY_ID = s3.env.AWS_ACCESS_KEY_ID;
    process.env.AWS_SECRET_ACCESS_KEY = s3.env.AWS_SECRET_ACCESS_KEY;
    proxy = await startProxy({
      ...s3.env,
      ORIGIN: 's3://media/videos',
      RTMP_PORT: '0',
      LIVE_STREAM_KEYS: 'demo=s3-record-key-1',
      LIVE_SR: '240',
      LIVE_SEGMENT_SECONDS: '1',
      LIVE_RECORD_PREFIX: 'live/recordings',
    });
  });
  afterAll(async () => {
    await proxy?.close();
    await s3?.close();
  });

  test('the recording is an object in the bucket and a normal source', { timeout: 60_000 }, async () => {
    const publisher = publish(`rtmp://127.0.0.1:${proxy.proxy.live!.port}/live/s3-record-key-1`, {
      seconds: 4,
      size: '320x180',
    });
    expect((await publisher.exited).code).toBe(0);
    expect(await waitFor(() => proxy.proxy.live!.stored.length === 1, 30_000)).toBe(true);
    const stored = proxy.proxy.live!.stored[0]!;
    expect(stored).toMatch(/^live\/recordings\/demo-.*\.mp4$/);
    const response = await fetch(`${proxy.url}/${stored}`);
    expect(response.status).toBe(200);
    const probed = await ffprobeBytes(Buffer.from(await response.arrayBuffer()), 'mp4');
    expect(Math.abs(Number(probed.format.duration) - 4)).toBeLessThan(1);
    const thumb = await fetch(`${proxy.url}/${stored}/ik-thumbnail.jpg?tr=so-2`);
    expect(thumb.status).toBe(200);
    expect(thumb.headers.get('content-type')).toBe('image/jpeg');
  });
});
