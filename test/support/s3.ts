import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import {
  CreateBucketCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
// @ts-expect-error s3rver ships no types
import S3rver from 's3rver';
import { RESERVED_FOLDER } from '../../src/origin/types.js';

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
  /** Turns s3rver's added `UploadPartCopy` on (the default) or off (then it answers 501, as s3rver does). */
  setPartCopy(enabled: boolean): void;
  /** `UploadPartCopy` calls served since the last `resetPartCopies`. */
  partCopies(): number;
  resetPartCopies(): void;
  /** Multipart uploads started and neither completed nor aborted (orphans, if any remain). */
  pendingUploads(bucket: string): Promise<Array<{ key: string; uploadId: string }>>;
  /**
   * What an origin writer under `prefix` (`''` for the bucket root) left behind: staged objects
   * and unfinished multipart uploads.
   */
  writerLeftovers(bucket: string, prefix: string): Promise<string[]>;
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
function multipartMiddleware(directory: string, partCopy: { enabled: boolean; served: number }) {
  return async (
    ctx: {
      method: string;
      path: string;
      query: Record<string, string>;
      status: number;
      body: unknown;
      type: string;
      get(name: string): string;
    },
    next: () => Promise<void>,
  ) => {
    const [bucket, ...rest] = decodeURIComponent(ctx.path).replace(/^\/+/, '').split('/');
    // The SDK writes bucket operations as `/bucket/?uploads`.
    if (rest.length === 1 && rest[0] === '') rest.pop();
    const copySource = ctx.get('x-amz-copy-source');
    if (ctx.method === 'PUT' && bucket && rest.length > 0 && ctx.query.uploadId && copySource) {
      if (!partCopy.enabled) {
        ctx.status = 501;
        ctx.type = 'application/xml';
        ctx.body =
          '<?xml version="1.0" encoding="UTF-8"?><Error><Code>NotImplemented</Code><Message>off</Message></Error>';
        return;
      }
      // UploadPartCopy: the source object's range becomes the part file s3rver's own parts use.
      partCopy.served++;
      const [sourceBucket, ...sourceKey] = decodeURIComponent(copySource.replace(/^\//, '')).split('/');
      const objectFile = path.join(
        directory,
        sourceBucket!,
        ...sourceKey.slice(0, -1),
        `${sourceKey.at(-1)}._S3rver_object`,
      );
      const range = /^bytes=(\d+)-(\d+)$/.exec(ctx.get('x-amz-copy-source-range'));
      const partFile = path.join(
        uploadsDir(directory, bucket),
        ctx.query.uploadId,
        String(ctx.query.partNumber),
      );
      // Streamed, range only: a part of a large object is never read whole into memory.
      const hash = createHash('md5');
      const reader = createReadStream(
        objectFile,
        range ? { start: Number(range[1]), end: Number(range[2]) } : {},
      );
      reader.on('data', (chunk) => hash.update(chunk));
      await pipeline(reader, createWriteStream(partFile));
      const etag = hash.digest('hex');
      await writeFile(`${partFile}.md5`, etag);
      ctx.type = 'application/xml';
      ctx.body = `<?xml version="1.0" encoding="UTF-8"?><CopyPartResult><LastModified>${new Date().toISOString()}</LastModified><ETag>"${etag}"</ETag></CopyPartResult>`;
      return;
    }
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
  const partCopy = { enabled: true, served: 0 };
  (server as { middleware: unknown[] }).middleware.unshift(multipartMiddleware(directory, partCopy));
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
  const pendingUploads = async (bucket: string) => {
    const answer = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    return (answer.Uploads ?? []).map((upload) => ({
      key: upload.Key ?? '',
      uploadId: upload.UploadId ?? '',
    }));
  };
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
    setPartCopy(enabled) {
      partCopy.enabled = enabled;
    },
    partCopies: () => partCopy.served,
    resetPartCopies() {
      partCopy.served = 0;
    },
    pendingUploads,
    async writerLeftovers(bucket, prefix) {
      const staged = await client.send(
        new ListObjectsV2Command({
          Bucket: bucket,
          Prefix: `${prefix ? `${prefix}/` : ''}${RESERVED_FOLDER}/staging/`,
        }),
      );
      const uploads = await pendingUploads(bucket);
      return [
        ...(staged.Contents ?? []).map((item) => `object ${item.Key}`),
        ...uploads.map((upload) => `multipart upload ${upload.key}`),
      ];
    },
    async close() {
      client.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(directory, { recursive: true, force: true });
    },
  };
}
