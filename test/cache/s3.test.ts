import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { S3Store } from '../../src/cache/s3.js';
import { hashKey } from '../../src/cache/util.js';
import { ProxyError } from '../../src/errors.js';
import { startTestS3, type TestS3 } from '../support/s3.js';
import { bodyFor, drain, metaFor } from './bodies.js';
import { storeContract } from './store-contract.js';

function ownClientConfig(endpoint: string) {
  return {
    endpoint,
    forcePathStyle: true,
    region: 'us-east-1',
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    maxAttempts: 1,
  };
}

storeContract('S3Store', async () => {
  const s3 = await startTestS3();
  await s3.createBucket('results');
  const store = new S3Store({ client: ownClientConfig(s3.endpoint), bucket: 'results', prefix: 'out/' });
  return {
    store,
    async close() {
      store.close();
      await s3.close();
    },
  };
});

describe('S3Store', () => {
  let s3: TestS3;
  beforeAll(async () => {
    s3 = await startTestS3();
    await s3.createBucket('results');
  });
  afterAll(() => s3.close());

  test('an unreachable server rejects instead of passing for a miss', async () => {
    // Port 1 on loopback: nothing listens there, so every call fails with ECONNREFUSED.
    const store = new S3Store({ client: ownClientConfig('http://127.0.0.1:1'), bucket: 'results' });
    try {
      await expect(store.get('key')).rejects.toBeInstanceOf(ProxyError);
      await expect(store.put('key', metaFor(3), { buffer: Buffer.from('abc') })).rejects.toBeInstanceOf(
        ProxyError,
      );
      await expect(store.delete('key')).rejects.toBeInstanceOf(ProxyError);
    } finally {
      store.close();
    }
  });

  test('works with a shared client for buffer bodies', async () => {
    const store = new S3Store({ client: s3.client, bucket: 'results', prefix: 'shared/' });
    const body = bodyFor('shared', 2_000);
    await store.put('shared', metaFor(body.length), { buffer: body });
    const hit = await store.get('shared');
    expect(hit?.tier).toBe('s3');
    expect((await drain(await hit!.open({ start: 10, end: 19 }))).equals(body.subarray(10, 20))).toBe(true);
  });

  test('an object at its key that it did not write (no meta, or another length) is a miss', async () => {
    const store = new S3Store({ client: s3.client, bucket: 'results', prefix: 'foreign/' });
    await store.put('victim', metaFor(3), { buffer: Buffer.from('abc') });
    expect(await store.get('victim')).toBeDefined();
    const id = hashKey('victim');
    await s3.client.send(
      new PutObjectCommand({ Bucket: 'results', Key: `foreign/${id.slice(0, 2)}/${id}`, Body: 'xyz' }),
    );
    expect(await store.get('victim')).toBeUndefined();
  });

  test('an object replaced between get and open is not served under the old meta', async () => {
    const store = new S3Store({ client: s3.client, bucket: 'results', prefix: 'race/' });
    await store.put('k', metaFor(3, 'old'), { buffer: Buffer.from('old') });
    const hit = (await store.get('k'))!;
    await store.put('k', metaFor(3, 'new'), { buffer: Buffer.from('new') });
    await expect(hit.open()).rejects.toBeInstanceOf(ProxyError);
  });
});
