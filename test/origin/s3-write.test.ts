import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { S3Origin } from '../../src/origin/s3.js';
import { COPY_PART_BYTES } from '../../src/origin/s3-writer.js';
import { startTestS3, type TestS3 } from '../support/s3.js';
import { collect, patternBytes } from './origin-contract.js';
import { writableOriginContract } from './write-contract.js';

writableOriginContract('s3', async () => {
  const s3 = await startTestS3();
  await s3.createBucket('media');
  process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
  process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';
  const origin = new S3Origin({
    bucket: 'media',
    prefix: 'videos',
    endpoint: s3.endpoint,
    forcePathStyle: true,
    region: 'us-east-1',
    timeoutMs: 10_000,
  });
  return {
    origin,
    // s3rver ignores If-None-Match, so only the HeadObject check holds there (AWS S3 decides races).
    atomicCreate: false,
    leftovers: () => s3.writerLeftovers('media', 'videos'),
    async teardown() {
      origin.destroy();
      await s3.close();
    },
  };
});

describe('S3 writer: large commits', () => {
  let s3: TestS3;
  let origin: S3Origin;

  beforeAll(async () => {
    s3 = await startTestS3();
    await s3.createBucket('big');
    process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
    process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';
    origin = new S3Origin({
      bucket: 'big',
      prefix: '',
      endpoint: s3.endpoint,
      forcePathStyle: true,
      region: 'us-east-1',
      timeoutMs: 10_000,
    });
  });
  afterAll(async () => {
    origin?.destroy();
    await s3?.close();
  });

  test.each([
    ['in parallel parts (UploadPartCopy)', true],
    ['whole, when the server lacks UploadPartCopy (its multipart upload aborted)', false],
  ])(
    'an object over COPY_PART_BYTES is committed %s, byte for byte',
    async (_label, partCopy) => {
      s3.setPartCopy(partCopy);
      s3.resetPartCopies();
      const body = patternBytes(COPY_PART_BYTES + 3 * 1024 * 1024 + 17, partCopy ? 21 : 22);
      const written = await origin.writer.put(`large-${partCopy}.mp4`, Readable.from([body]));
      expect(written.size).toBe(body.length);
      // 64 MiB parts: two UploadPartCopy calls, or none when the server refused the first.
      expect(s3.partCopies()).toBe(partCopy ? 2 : 0);
      const back = await collect(await origin.read(`large-${partCopy}.mp4`), 60_000);
      expect(back.equals(body)).toBe(true);
      expect(await s3.writerLeftovers('big', '')).toEqual([]);
    },
    120_000,
  );
});
