import { AzureOrigin } from '../../src/origin/azure.js';
import { RESERVED_FOLDER } from '../../src/origin/types.js';
import { startTestAzurite } from '../support/azurite.js';
import { writableOriginContract } from './write-contract.js';

writableOriginContract('azure (Azurite)', async () => {
  const azurite = await startTestAzurite();
  await azurite.createContainer('media');
  const origin = new AzureOrigin({
    container: 'media',
    prefix: 'videos',
    auth: { kind: 'connection-string', connectionString: azurite.connectionString },
    timeoutMs: 10_000,
  });
  const container = azurite.client.getContainerClient('media');
  return {
    origin,
    // Azure decides `If-None-Match: *` itself (Azurite too).
    atomicCreate: true,
    async leftovers() {
      // Uncommitted blocks count: they are what a failed upload would leave behind.
      const out: string[] = [];
      for await (const item of container.listBlobsFlat({
        prefix: `videos/${RESERVED_FOLDER}/staging/`,
        includeUncommitedBlobs: true,
      })) {
        out.push(`blob ${item.name}`);
      }
      return out;
    },
    teardown: () => azurite.close(),
  };
});
