import {
  AccountSASPermissions,
  AccountSASResourceTypes,
  AccountSASServices,
  generateAccountSASQueryParameters,
  StorageSharedKeyCredential,
} from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { NotFoundError, OriginError, OriginTimeoutError } from '../../src/errors.js';
import { type AzureAuth, AzureOrigin, azureServiceClient } from '../../src/origin/azure.js';
import { createOrigin } from '../../src/origin/index.js';
import { AZURITE_ACCOUNT, AZURITE_KEY, startTestAzurite, type TestAzurite } from '../support/azurite.js';
import { originContract, patternBytes } from './origin-contract.js';
import { startHangingServer } from './servers.js';

function originFor(azurite: TestAzurite, container: string, prefix: string, auth?: AzureAuth): AzureOrigin {
  return new AzureOrigin({
    container,
    prefix,
    auth: auth ?? { kind: 'connection-string', connectionString: azurite.connectionString },
    timeoutMs: 5000,
  });
}

originContract('azure (Azurite)', async () => {
  const azurite = await startTestAzurite();
  await azurite.createContainer('media');
  const origin = originFor(azurite, 'media', 'videos');
  return {
    origin,
    put: (path, bytes) => azurite.putBlob('media', `videos/${path}`, bytes),
    teardown: () => azurite.close(),
  };
});

describe('AzureOrigin specifics', () => {
  let azurite: TestAzurite;

  beforeAll(async () => {
    azurite = await startTestAzurite();
    await azurite.createContainer('media');
    await azurite.putBlob('media', 'root.mp4', patternBytes(100));
    await azurite.putBlob('media', 'pre/fix/in.mp4', patternBytes(50), 'video/mp4');
  });
  afterAll(async () => {
    await azurite?.close();
  });

  test('a wrong container is an OriginError naming it in the log only, not a missing source', async () => {
    const origin = originFor(azurite, 'no-such-container', '');
    const pingError = await origin.ping().catch((e) => e);
    expect(pingError).toBeInstanceOf(OriginError);
    expect(pingError.detail).toContain('no-such-container');
    expect(pingError.message).not.toContain('no-such-container');
    const statError = await origin.stat('root.mp4').catch((e) => e);
    expect(statError).toBeInstanceOf(OriginError);
    expect(statError).not.toBeInstanceOf(NotFoundError);
    const readError = await origin.read('root.mp4').catch((e) => e);
    expect(readError).toBeInstanceOf(OriginError);
    expect(readError).not.toBeInstanceOf(NotFoundError);
  });

  test('ORIGIN=azure://container/prefix with a connection string builds this adapter', async () => {
    const origin = createOrigin(
      loadConfig({
        ORIGIN: 'azure://media/pre/fix',
        AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString,
      }),
    );
    expect(origin).toBeInstanceOf(AzureOrigin);
    expect(origin.kind).toBe('azure');
    expect((await origin.stat('in.mp4')).size).toBe(50);
  });

  test('an account key or SAS token addresses https://<account>.blob.core.windows.net', () => {
    const sas = azureServiceClient(
      { kind: 'sas', account: 'acct', sas: '?sv=2024-11-04&sp=rl&sig=abc' },
      1000,
    );
    expect(sas.url).toBe('https://acct.blob.core.windows.net/?sv=2024-11-04&sp=rl&sig=abc');
    expect(sas.getContainerClient('media').getBlobClient('a b.mp4').url).toBe(
      'https://acct.blob.core.windows.net/media/a%20b.mp4?sv=2024-11-04&sp=rl&sig=abc',
    );
    const key = azureServiceClient({ kind: 'key', account: 'acct', key: AZURITE_KEY }, 1000);
    expect(key.url).toBe('https://acct.blob.core.windows.net/');
    expect(key.credential).toBeInstanceOf(StorageSharedKeyCredential);
  });

  test('the prefix scopes names, with or without a trailing slash', async () => {
    for (const prefix of ['pre/fix', 'pre/fix/']) {
      const origin = originFor(azurite, 'media', prefix);
      expect((await origin.stat('in.mp4')).size).toBe(50);
      await expect(origin.stat('root.mp4')).rejects.toBeInstanceOf(NotFoundError);
    }
  });

  test('the version is the ETag and the stored content type wins', async () => {
    const origin = originFor(azurite, 'media', 'pre/');
    const stat = await origin.stat('fix/in.mp4');
    expect(stat.version).toMatch(/^"?0x[0-9A-F]+"?$/);
    expect(stat.contentType).toBe('video/mp4');
    expect(stat.lastModified).toBeInstanceOf(Date);
  });

  test('a wrong account key is an OriginError whose log detail is about credentials', async () => {
    const wrongKey = Buffer.from('not the key').toString('base64');
    const connectionString = azurite.connectionString.replace(/AccountKey=[^;]+/, `AccountKey=${wrongKey}`);
    const origin = originFor(azurite, 'media', '', { kind: 'connection-string', connectionString });
    const error = await origin.stat('root.mp4').catch((e) => e);
    expect(error).toBeInstanceOf(OriginError);
    expect(error.message).toBe('The origin refused access');
    expect(error.detail).toMatch(/credentials.*AZURE_STORAGE/);
    expect(error.detail).not.toContain(wrongKey);
  });

  test('a SAS token is accepted (account + SAS configuration)', async () => {
    const sas = generateAccountSASQueryParameters(
      {
        expiresOn: new Date(Date.now() + 3600_000),
        permissions: AccountSASPermissions.parse('rl'),
        resourceTypes: AccountSASResourceTypes.parse('sco').toString(),
        services: AccountSASServices.parse('b').toString(),
      },
      new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY),
    ).toString();
    // The account-name form builds https://<account>.blob.core.windows.net; Azurite needs its own
    // endpoint, which a connection string with a SharedAccessSignature carries.
    const connectionString = `BlobEndpoint=${azurite.blobEndpoint};SharedAccessSignature=${sas}`;
    const origin = originFor(azurite, 'media', '', { kind: 'connection-string', connectionString });
    expect((await origin.stat('root.mp4')).size).toBe(100);
    await expect(origin.ping()).resolves.toBeUndefined();
  });

  test('an endpoint that never answers is OriginTimeoutError within the timeout', async () => {
    const hanging = await startHangingServer();
    const connectionString = azurite.connectionString.replace(
      /BlobEndpoint=[^;]+/,
      `BlobEndpoint=${hanging.url.replace(/\/$/, '')}/${AZURITE_ACCOUNT}`,
    );
    const origin = new AzureOrigin({
      container: 'media',
      prefix: '',
      auth: { kind: 'connection-string', connectionString },
      timeoutMs: 300,
    });
    try {
      const started = Date.now();
      const error = await origin.stat('root.mp4').catch((e) => e);
      expect(error).toBeInstanceOf(OriginTimeoutError);
      const elapsed = Date.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(250);
      expect(elapsed).toBeLessThan(1500);
    } finally {
      await hanging.close();
    }
  });
});
