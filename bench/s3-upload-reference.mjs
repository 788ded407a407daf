// The reference of bench scenario 9: the AWS SDK's own multipart upload of a file, in its own
// process, with the proxy's part size and concurrency. Usage: node bench/s3-upload-reference.mjs FILE BUCKET KEY ENDPOINT
import { createReadStream } from 'node:fs';
import { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';

const [file, bucket, key, endpoint] = process.argv.slice(2);
const client = new S3Client({
  endpoint,
  forcePathStyle: true,
  region: 'us-east-1',
  credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  requestChecksumCalculation: 'WHEN_REQUIRED',
  responseChecksumValidation: 'WHEN_REQUIRED',
});
await new Upload({
  client,
  params: { Bucket: bucket, Key: key, Body: createReadStream(file) },
  partSize: 5 * 1024 * 1024,
  queueSize: 4,
}).done();
client.destroy();
