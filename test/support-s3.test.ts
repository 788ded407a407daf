import { GetObjectCommand } from '@aws-sdk/client-s3';
import { expect, test } from 'vitest';
import { startTestS3 } from './support/s3.js';

test('s3rver starts and serves a ranged object', async () => {
  const s3 = await startTestS3();
  try {
    await s3.createBucket('media');
    await s3.putObject('media', 'a/x.bin', Buffer.from('0123456789'));
    const out = await s3.client.send(
      new GetObjectCommand({ Bucket: 'media', Key: 'a/x.bin', Range: 'bytes=2-4' }),
    );
    expect(await out.Body!.transformToString()).toBe('234');
  } finally {
    await s3.close();
  }
});
