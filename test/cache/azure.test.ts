import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { AzureStore } from '../../src/cache/azure.js';
import { createCache } from '../../src/cache/index.js';
import { hashKey } from '../../src/cache/util.js';
import { loadConfig } from '../../src/config/index.js';
import { ProxyError } from '../../src/errors.js';
import { startTestAzurite, type TestAzurite } from '../support/azurite.js';
import { bodyFor, drain, metaFor } from './bodies.js';
import { storeContract } from './store-contract.js';

storeContract('AzureStore (Azurite)', async () => {
  const azurite = await startTestAzurite();
  await azurite.createContainer('results');
  const store = new AzureStore({
    client: { auth: { kind: 'connection-string', connectionString: azurite.connectionString } },
    container: 'results',
    prefix: 'out/',
  });
  return { store, close: () => azurite.close() };
});

describe('AzureStore', () => {
  let azurite: TestAzurite;
  beforeAll(async () => {
    azurite = await startTestAzurite();
    await azurite.createContainer('results');
  });
  afterAll(() => azurite?.close());

  test('an unreachable account rejects instead of passing for a miss', async () => {
    const connectionString = azurite.connectionString.replace(
      /BlobEndpoint=[^;]+/,
      'BlobEndpoint=http://127.0.0.1:1/devstoreaccount1',
    );
    const store = new AzureStore({
      client: { auth: { kind: 'connection-string', connectionString }, timeoutMs: 2000 },
      container: 'results',
    });
    await expect(store.get('key')).rejects.toBeInstanceOf(ProxyError);
    await expect(store.put('key', metaFor(3), { buffer: Buffer.from('abc') })).rejects.toBeInstanceOf(
      ProxyError,
    );
  }, 30_000);

  test('RESULT_BUCKET=azure:// adds the shared tier: what one node stores, another finds', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'azure-tier-'));
    try {
      const env = { ...azurite.env, RESULT_BUCKET: 'azure://results/fleet' };
      const nodeA = await createCache(loadConfig({ ...env, CACHE_DIR: path.join(dir, 'a') }), {
        onError: () => undefined,
      });
      expect(nodeA.stores.map((store) => store.tier)).toEqual(['memory', 'disk', 'azure']);
      const body = bodyFor('fleet', 50_000);
      await nodeA.put('fleet', metaFor(body.length), { buffer: body });
      await nodeA.close();
      const nodeB = await createCache(loadConfig({ ...env, CACHE_DIR: path.join(dir, 'b') }), {
        onError: () => undefined,
      });
      const hit = await nodeB.get('fleet');
      expect(hit?.tier).toBe('azure');
      expect((await drain(await hit!.open())).equals(body)).toBe(true);
      await nodeB.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('a missing container is an error, not a miss', async () => {
    const store = new AzureStore({ client: azurite.client, container: 'no-such-container' });
    await expect(store.get('key')).rejects.toBeInstanceOf(ProxyError);
  });

  test('a hit reports the azure tier and serves ranges from a shared client', async () => {
    const store = new AzureStore({ client: azurite.client, container: 'results', prefix: 'shared/' });
    const body = bodyFor('shared', 2_000);
    await store.put('shared', metaFor(body.length), { buffer: body });
    const hit = await store.get('shared');
    expect(hit?.tier).toBe('azure');
    expect((await drain(await hit!.open({ start: 10, end: 19 }))).equals(body.subarray(10, 20))).toBe(true);
  });

  test('a blob at its name that it did not write (no meta, or another length) is a miss', async () => {
    const store = new AzureStore({ client: azurite.client, container: 'results', prefix: 'foreign/' });
    await store.put('victim', metaFor(3), { buffer: Buffer.from('abc') });
    expect(await store.get('victim')).toBeDefined();
    const id = hashKey('victim');
    await azurite.putBlob('results', `foreign/${id.slice(0, 2)}/${id}`, 'xyz');
    expect(await store.get('victim')).toBeUndefined();
  });

  test('a blob replaced between get and open is not served under the old meta', async () => {
    const store = new AzureStore({ client: azurite.client, container: 'results', prefix: 'race/' });
    await store.put('k', metaFor(3, 'old'), { buffer: Buffer.from('old') });
    const hit = (await store.get('k'))!;
    await store.put('k', metaFor(3, 'new'), { buffer: Buffer.from('new') });
    await expect(hit.open()).rejects.toBeInstanceOf(ProxyError);
  });
});
