import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { S3Origin } from '../../src/origin/s3.js';
import { RESERVED_FOLDER } from '../../src/origin/types.js';
import { startTestS3 } from '../support/s3.js';
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
    async leftovers() {
      const staged = await s3.client.send(
        new ListObjectsV2Command({ Bucket: 'media', Prefix: `videos/${RESERVED_FOLDER}/staging/` }),
      );
      const uploads = await s3.pendingUploads('media');
      return [
        ...(staged.Contents ?? []).map((item) => `object ${item.Key}`),
        ...uploads.map((upload) => `multipart upload ${upload.key}`),
      ];
    },
    async teardown() {
      origin.destroy();
      await s3.close();
    },
  };
});
