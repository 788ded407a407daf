import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import ImageKit, { toFile } from '@imagekit/nodejs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { fixturePath } from '../support/fixtures.js';
import { startProxy, type TestProxy } from '../support/proxy.js';
import { startTestS3, type TestS3 } from '../support/s3.js';

const PRIVATE_KEY = 'nodejs_private_key';

/** A loopback server with one file, standing in for where a customer's videos already live. */
async function fileServer(body: Buffer): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    if (req.url !== '/clips/remote.mp4') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': 'video/mp4', 'Content-Length': String(body.length) }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

describe('@imagekit/nodejs with baseURL = the proxy, over an S3 origin', () => {
  let s3: TestS3;
  let proxy: TestProxy;
  let client: ImageKit;
  let remote: { url: string; server: Server };
  let sample: Buffer;

  beforeAll(async () => {
    s3 = await startTestS3();
    await s3.createBucket('media');
    // Real credentials come from the standard chain, as in production.
    process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
    process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';
    sample = await readFile(fixturePath('sample.mp4'));
    remote = await fileServer(sample);
    proxy = await startProxy({
      ...s3.env,
      ORIGIN: 's3://media/library',
      API_PRIVATE_KEY: `old_key_rotated,${PRIVATE_KEY}`,
      // The URL upload below fetches from a loopback server, as the HTTP origin's tests do.
      ALLOW_PRIVATE_ORIGINS: 'true',
    });
    client = new ImageKit({ privateKey: PRIVATE_KEY, baseURL: proxy.url, maxRetries: 0 });
  });
  afterAll(async () => {
    await proxy?.close();
    remote?.server.close();
    await s3?.close();
  });

  test('uploads a Buffer, a base64 string and a URL; lists, updates tags, deletes', async () => {
    const fromBuffer = await client.files.upload({
      file: await toFile(sample, 'buffer.mp4'),
      fileName: 'buffer.mp4',
      folder: '/sdk',
      useUniqueFileName: false,
      tags: ['first'],
      customMetadata: { source: 'buffer' },
    });
    expect(fromBuffer.filePath).toBe('/sdk/buffer.mp4');
    expect(fromBuffer.size).toBe(sample.length);
    expect(fromBuffer.customMetadata).toEqual({ source: 'buffer' });

    const small = await readFile(fixturePath('no-audio.mp4'));
    const fromBase64 = await client.files.upload({
      file: small.toString('base64'),
      fileName: 'base64.mp4',
      folder: 'sdk',
      useUniqueFileName: false,
    });
    expect(fromBase64.size).toBe(small.length);
    expect(fromBase64.audioCodec ?? null).toBeNull();

    const fromUrl = await client.files.upload({
      file: `${remote.url}/clips/remote.mp4`,
      fileName: 'remote.mp4',
      folder: 'sdk',
      useUniqueFileName: false,
      description: 'fetched by the proxy',
    });
    expect(fromUrl.size).toBe(sample.length);
    expect(fromUrl.description).toBe('fetched by the proxy');

    // Every upload plays from its url at once.
    for (const uploaded of [fromBuffer, fromBase64, fromUrl]) {
      const original = await fetch(uploaded.url!);
      expect(original.status).toBe(200);
      expect(Number(original.headers.get('content-length'))).toBe(uploaded.size);
      await original.body?.cancel();
    }

    const listed = await client.assets.list({ path: '/sdk', sort: 'ASC_NAME' });
    expect(listed.map((file) => ('name' in file ? file.name : undefined))).toEqual([
      'base64.mp4',
      'buffer.mp4',
      'remote.mp4',
    ]);
    const tagged = await client.assets.list({ path: '/sdk', tags: 'first' } as never);
    expect(tagged).toHaveLength(1);

    const updated = await client.files.update(fromBase64.fileId!, { tags: ['second', 'third'] });
    expect(updated.tags).toEqual(['second', 'third']);
    const details = await client.files.get(fromBase64.fileId!);
    expect(details.tags).toEqual(['second', 'third']);
    expect(details.filePath).toBe('/sdk/base64.mp4');

    const added = await client.files.bulk.addTags({
      fileIds: [fromBase64.fileId!, fromUrl.fileId!],
      tags: ['bulk'],
    });
    expect(added.successfullyUpdatedFileIds).toEqual([fromBase64.fileId, fromUrl.fileId]);
    expect((await client.files.get(fromBase64.fileId!)).tags).toEqual(['second', 'third', 'bulk']);
    await client.files.bulk.removeTags({ fileIds: [fromBase64.fileId!], tags: ['second', 'bulk'] });
    expect((await client.files.get(fromBase64.fileId!)).tags).toEqual(['third']);

    const metadata = await client.files.metadata.get(fromBuffer.fileId!);
    expect(metadata.width).toBe(fromBuffer.width);
    expect(metadata.duration).toBeGreaterThan(1);

    await client.files.delete(fromUrl.fileId!);
    expect((await fetch(fromUrl.url!)).status).toBe(404);
    const deleted = await client.files.get(fromUrl.fileId!).catch((error: unknown) => error);
    expect((deleted as { status?: number }).status).toBe(404);

    const bulk = await client.files.bulk.delete({ fileIds: [fromBuffer.fileId!, fromBase64.fileId!] });
    expect(bulk.successfullyDeletedFileIds).toEqual([fromBuffer.fileId, fromBase64.fileId]);
    expect(await client.assets.list({ path: '/sdk' })).toEqual([]);

    const purge = await client.cache.invalidation.create({ url: `${proxy.url}/sdk/buffer.mp4` });
    expect(purge.requestId).toBeTruthy();
    expect((await client.cache.invalidation.get(purge.requestId!)).status).toBe('Completed');

    // Nothing but the proxy's own records is left in the bucket, and no multipart upload.
    const { Contents } = await s3.client.send(
      new (await import('@aws-sdk/client-s3')).ListObjectsV2Command({ Bucket: 'media' }),
    );
    const keys = (Contents ?? []).map((item) => item.Key!);
    expect(keys.filter((key) => !key.startsWith('library/.ik-proxy/records/'))).toEqual([]);
    expect(await s3.pendingUploads('media')).toEqual([]);
  }, 90_000);

  test('copy, move and rename: the bytes, the record and the URLs follow', async () => {
    const small = await readFile(fixturePath('no-audio.mp4'));
    const original = await client.files.upload({
      file: await toFile(small, 'one.mp4'),
      fileName: 'one.mp4',
      folder: 't',
      useUniqueFileName: false,
      tags: ['keep'],
    });
    await client.files.copy({ sourceFilePath: '/t/one.mp4', destinationPath: '/t2' });
    const copies = await client.assets.list({ path: '/t2' });
    expect(copies.map((file) => ('filePath' in file ? [file.filePath, file.tags] : []))).toEqual([
      ['/t2/one.mp4', ['keep']],
    ]);
    await client.files.move({ sourceFilePath: '/t/one.mp4', destinationPath: '/t3/' });
    expect(await client.assets.list({ path: '/t' })).toEqual([]);
    expect((await fetch(original.url!)).status).toBe(404);
    const moved = await fetch(`${proxy.url}/t3/one.mp4`);
    expect(moved.status).toBe(200);
    expect(Buffer.from(await moved.arrayBuffer()).equals(small)).toBe(true);
    const renamed = await client.files.rename({
      filePath: '/t2/one.mp4',
      newFileName: 'two.mp4',
      purgeCache: true,
    });
    expect(renamed.purgeRequestId).toBeTruthy();
    expect((await fetch(`${proxy.url}/t2/two.mp4`)).status).toBe(200);
    expect((await fetch(`${proxy.url}/t2/one.mp4`)).status).toBe(404);
    await client.files.upload({
      file: await toFile(small, 'x.mp4'),
      fileName: 'x.mp4',
      folder: 't2',
      useUniqueFileName: false,
    });
    const taken = await client.files
      .rename({ filePath: '/t2/two.mp4', newFileName: 'x.mp4' })
      .catch((error: unknown) => error);
    expect((taken as { status?: number }).status).toBe(409);
    expect(await s3.pendingUploads('media')).toEqual([]);
  }, 60_000);

  test('a wrong key gets 401 with ImageKit-style message', async () => {
    const wrong = new ImageKit({ privateKey: 'not_the_right_key', baseURL: proxy.url, maxRetries: 0 });
    const error = await wrong.assets.list().catch((e: unknown) => e);
    expect((error as { status?: number }).status).toBe(401);
    expect((error as { error?: { message?: string } }).error?.message).toMatch(/invalid private API key/);
  });
});
