import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { NotFoundError, OriginError, OriginTimeoutError } from '../../src/errors.js';
import { S3Origin } from '../../src/origin/s3.js';
import { startTestS3, type TestS3 } from '../support/s3.js';
import { originContract, patternBytes } from './origin-contract.js';
import { startHangingServer } from './servers.js';

function originFor(s3: TestS3, bucket: string, prefix: string, timeoutMs = 5000): S3Origin {
  return new S3Origin({
    bucket,
    prefix,
    endpoint: s3.endpoint,
    forcePathStyle: true,
    region: 'us-east-1',
    timeoutMs,
  });
}

originContract('s3', async () => {
  const s3 = await startTestS3();
  await s3.createBucket('media');
  // Real credentials come from the standard chain, as in production.
  process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
  process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';
  const origin = originFor(s3, 'media', 'videos');
  return {
    origin,
    put: (path, bytes) => s3.putObject('media', `videos/${path}`, bytes),
    async teardown() {
      origin.destroy();
      await s3.close();
    },
  };
});

describe('S3Origin specifics', () => {
  let s3: TestS3;

  beforeAll(async () => {
    s3 = await startTestS3();
    await s3.createBucket('media');
    await s3.putObject('media', 'root.mp4', patternBytes(100));
    await s3.putObject('media', 'pre/fix/in.mp4', patternBytes(50), 'video/mp4');
    process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
    process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';
  });
  afterAll(async () => {
    await s3?.close();
  });

  test('a wrong bucket is an OriginError naming it in the log only, not a missing source', async () => {
    const origin = originFor(s3, 'no-such-bucket', '');
    try {
      const pingError = await origin.ping().catch((e) => e);
      expect(pingError).toBeInstanceOf(OriginError);
      expect(pingError.detail).toContain('no-such-bucket');
      expect(pingError.message).not.toContain('no-such-bucket');
      const statError = await origin.stat('root.mp4').catch((e) => e);
      expect(statError).toBeInstanceOf(OriginError);
      expect(statError).not.toBeInstanceOf(NotFoundError);
      const readError = await origin.read('root.mp4').catch((e) => e);
      expect(readError).toBeInstanceOf(OriginError);
    } finally {
      origin.destroy();
    }
  });

  test('the prefix scopes keys, with or without a trailing slash', async () => {
    for (const prefix of ['pre/fix', 'pre/fix/']) {
      const origin = originFor(s3, 'media', prefix);
      try {
        expect((await origin.stat('in.mp4')).size).toBe(50);
        await expect(origin.stat('root.mp4')).rejects.toBeInstanceOf(NotFoundError);
      } finally {
        origin.destroy();
      }
    }
  });

  test('the version is the ETag and the stored content type wins', async () => {
    const origin = originFor(s3, 'media', 'pre/');
    try {
      const stat = await origin.stat('fix/in.mp4');
      expect(stat.version).toMatch(/^"[0-9a-f]{32}"$/);
      expect(stat.contentType).toBe('video/mp4');
      expect(stat.lastModified).toBeInstanceOf(Date);
    } finally {
      origin.destroy();
    }
  });

  test('credentials the server refuses are an OriginError whose log detail is about credentials', async () => {
    const origin = originFor(s3, 'media', '');
    const saved = process.env.AWS_SECRET_ACCESS_KEY;
    process.env.AWS_SECRET_ACCESS_KEY = 'wrong-secret';
    process.env.AWS_ACCESS_KEY_ID = 'WRONG';
    try {
      const error = await origin.stat('root.mp4').catch((e) => e);
      expect(error).toBeInstanceOf(OriginError);
      expect(error.detail).toMatch(/credentials.*AWS_ACCESS_KEY_ID/);
      expect(error.message).toBe('The origin refused access');
    } finally {
      process.env.AWS_SECRET_ACCESS_KEY = saved;
      process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
      origin.destroy();
    }
  });

  test('an endpoint that never answers is OriginTimeoutError within the timeout', async () => {
    const hanging = await startHangingServer();
    const origin = new S3Origin({
      bucket: 'media',
      prefix: '',
      endpoint: hanging.url,
      forcePathStyle: true,
      region: 'us-east-1',
      timeoutMs: 300,
    });
    try {
      const started = Date.now();
      const error = await origin.stat('root.mp4').catch((e) => e);
      expect(error).toBeInstanceOf(OriginTimeoutError);
      const elapsed = Date.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(250);
      expect(elapsed).toBeLessThan(1000);
    } finally {
      origin.destroy();
      await hanging.close();
    }
  });
});
