import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createCache } from '../../src/cache/index.js';
import { S3Store } from '../../src/cache/s3.js';
import { loadConfig } from '../../src/config/index.js';
import { startTestS3, type TestS3 } from '../support/s3.js';
import { bodyFor, drain, metaFor } from './bodies.js';

describe('createCache', () => {
  let dir: string;
  let s3: TestS3;
  const savedEnv = { ...process.env };
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'create-cache-'));
    s3 = await startTestS3();
    await s3.createBucket('fleet');
    // The S3 client built from config finds credentials the usual way: the environment.
    Object.assign(process.env, s3.env);
  });
  afterAll(async () => {
    process.env = savedEnv;
    await s3.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('builds memory and disk tiers from the configuration', async () => {
    const config = loadConfig({ CACHE_DIR: path.join(dir, 'local'), MEMORY_CACHE_MAX_ITEM_BYTES: '1000' });
    const cache = await createCache(config, { onError: () => undefined });
    expect(cache.stores.map((store) => store.tier)).toEqual(['memory', 'disk']);
    await cache.put('small', metaFor(500), { buffer: bodyFor('small', 500) });
    await cache.put('large', metaFor(5_000), { buffer: bodyFor('large', 5_000) });
    expect((await cache.get('small'))?.tier).toBe('memory');
    expect((await cache.get('large'))?.tier).toBe('disk');
    expect(await cache.writable()).toBe(true);
    await cache.close();
  });

  test('adds the shared S3 tier when RESULT_BUCKET is set', async () => {
    const errors: unknown[] = [];
    const config = loadConfig({
      ...s3.env,
      CACHE_DIR: path.join(dir, 'fleet-a'),
      RESULT_BUCKET: 's3://fleet/results',
    });
    const cache = await createCache(config, { onError: (error) => errors.push(error) });
    expect(cache.stores.map((store) => store.tier)).toEqual(['memory', 'disk', 's3']);
    const body = bodyFor('shared', 20_000);
    await cache.put('shared', metaFor(body.length), { buffer: body });
    await cache.close();

    // Another node with an empty local cache finds it in the bucket under the configured prefix.
    const other = await createCache(
      loadConfig({ ...s3.env, CACHE_DIR: path.join(dir, 'fleet-b'), RESULT_BUCKET: 's3://fleet/results' }),
      { onError: (error) => errors.push(error) },
    );
    const hit = await other.get('shared');
    expect(hit?.tier).toBe('s3');
    expect((await drain(await hit!.open())).equals(body)).toBe(true);
    await other.close();
    const direct = new S3Store({ client: s3.client, bucket: 'fleet', prefix: 'results/' });
    expect(await direct.get('shared')).toBeDefined();
    expect(errors).toEqual([]);
  });
});
