import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  CreateBucketCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
// @ts-expect-error s3rver ships no types
import S3rver from 's3rver';

/** A running S3 API server on 127.0.0.1 with a client pointed at it. */
export interface TestS3 {
  endpoint: string;
  client: S3Client;
  /** Environment that makes the proxy talk to this server. */
  env: Record<string, string>;
  createBucket(name: string): Promise<void>;
  putObject(
    bucket: string,
    key: string,
    body: Buffer | Uint8Array | string,
    contentType?: string,
  ): Promise<void>;
  /** Multipart uploads started and neither completed nor aborted (orphans, if any remain). */
  pendingUploads(bucket: string): Promise<Array<{ key: string; uploadId: string }>>;
  close(): Promise<void>;
}

/** Where s3rver keeps a bucket's unfinished multipart uploads (one folder per upload id). */
function uploadsDir(directory: string, bucket: string): string {
  return path.join(directory, bucket, '._S3rver_uploads');
}

/**
 * s3rver 3.7 implements multipart uploads but not `AbortMultipartUpload` nor
 * `ListMultipartUploads` (it answers 405 and 501). Both are added here in front of its router,
 * on its own storage layout, so tests exercise the abort path a real S3 takes and can list
 * orphaned uploads with the real SDK command.
 */
function multipartMiddleware(directory: string) {
  return async (
    ctx: {
      method: string;
      path: string;
      query: Record<string, string>;
      status: number;
      body: unknown;
      type: string;
    },
    next: () => Promise<void>,
  ) => {
    const [bucket, ...rest] = decodeURIComponent(ctx.path).replace(/^\/+/, '').split('/');
    // The SDK writes bucket operations as `/bucket/?uploads`.
    if (rest.length === 1 && rest[0] === '') rest.pop();
    if (ctx.method === 'DELETE' && bucket && rest.length > 0 && typeof ctx.query.uploadId === 'string') {
      const id = ctx.query.uploadId;
      if (!/^[A-Za-z0-9-]+$/.test(id)) {
        ctx.status = 400;
        return;
      }
      await rm(path.join(uploadsDir(directory, bucket), id), { recursive: true, force: true });
      ctx.status = 204;
      ctx.body = '';
      return;
    }
    if (ctx.method === 'GET' && bucket && rest.length === 0 && 'uploads' in ctx.query) {
      const ids = await readdir(uploadsDir(directory, bucket)).catch(() => [] as string[]);
      const uploads = await Promise.all(
        ids.map(async (id) => {
          const key = await readFile(path.join(uploadsDir(directory, bucket), id, 'key'), 'utf8').catch(
            () => '',
          );
          return `<Upload><Key>${escapeXml(key)}</Key><UploadId>${id}</UploadId></Upload>`;
        }),
      );
      ctx.type = 'application/xml';
      ctx.body =
        '<?xml version="1.0" encoding="UTF-8"?><ListMultipartUploadsResult>' +
        `<Bucket>${escapeXml(bucket)}</Bucket><IsTruncated>false</IsTruncated>${uploads.join('')}</ListMultipartUploadsResult>`;
      return;
    }
    await next();
  };
}

function escapeXml(value: string): string {
  return value.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Starts s3rver on a free loopback port with its own temporary directory. */
export async function startTestS3(): Promise<TestS3> {
  const directory = await mkdtemp(path.join(os.tmpdir(), 's3rver-'));
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, vhostBuckets: false });
  // Koa composes its middleware when the server starts, so this runs before s3rver's router.
  (server as { middleware: unknown[] }).middleware.unshift(multipartMiddleware(directory));
  const address = (await server.run()) as { port: number };
  const endpoint = `http://127.0.0.1:${address.port}`;
  const env = {
    S3_ENDPOINT: endpoint,
    S3_FORCE_PATH_STYLE: 'true',
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
  };
  const client = new S3Client({
    endpoint,
    forcePathStyle: true,
    region: 'us-east-1',
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  return {
    endpoint,
    client,
    env,
    async createBucket(name) {
      await client.send(new CreateBucketCommand({ Bucket: name }));
    },
    async putObject(bucket, key, body, contentType) {
      await client.send(
        new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType }),
      );
    },
    async pendingUploads(bucket) {
      const answer = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
      return (answer.Uploads ?? []).map((upload) => ({
        key: upload.Key ?? '',
        uploadId: upload.UploadId ?? '',
      }));
    },
    async close() {
      client.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(directory, { recursive: true, force: true });
    },
  };
}
