import type { Config } from '../config/index.js';
import { ConfigError } from '../errors.js';
import { AzureStore } from './azure.js';
import { DiskStore } from './disk.js';
import { MemoryStore } from './memory.js';
import { S3Store } from './s3.js';
import { TieredStore } from './tiered.js';
import type { CacheStore } from './types.js';

export { AzureStore, type AzureStoreOptions } from './azure.js';
export { DiskStore, type DiskStoreOptions } from './disk.js';
export { type CacheKeyParts, cacheKey } from './key.js';
export { MemoryStore, type MemoryStoreOptions } from './memory.js';
export { S3Store, type S3StoreOptions } from './s3.js';
export { TieredStore, type TieredStoreOptions } from './tiered.js';
export type * from './types.js';

/**
 * Builds the cache from configuration: memory, then disk, then (with `RESULT_BUCKET`) the shared
 * tier in S3, GCS (through the S3 adapter) or Azure. Opening the disk tier cleans up after a crash and may take a moment on a large cache.
 * `onError` receives the failures that never reach a caller (background writes, skipped tiers).
 */
export async function createCache(
  config: Config,
  options: { onError(err: unknown): void },
): Promise<TieredStore> {
  const memory = new MemoryStore({
    maxBytes: config.memoryCacheMaxBytes,
    maxItemBytes: config.memoryCacheMaxItemBytes,
  });
  const disk = await DiskStore.open({ dir: config.cacheDir, maxBytes: config.cacheMaxBytes });
  const stores: CacheStore[] = [memory, disk];
  const result = config.resultBucket;
  if (result?.kind === 'azure') {
    if (!config.azure) throw new ConfigError(['RESULT_BUCKET=azure://... needs Azure credentials']);
    stores.push(
      new AzureStore({
        client: { auth: config.azure, timeoutMs: config.originTimeoutMs },
        container: result.bucket,
        prefix: result.prefix,
      }),
    );
  } else if (result) {
    const connection = result.kind === 'gs' ? config.gcs : config.s3;
    stores.push(
      new S3Store({
        client: {
          region: connection.region,
          endpoint: connection.endpoint,
          forcePathStyle: connection.forcePathStyle,
          // GCS's XML API refuses the SDK's default CRC32 checksum headers and aws-chunked bodies.
          requestChecksumCalculation: 'WHEN_REQUIRED',
          responseChecksumValidation: 'WHEN_REQUIRED',
        },
        bucket: result.bucket,
        prefix: result.prefix,
      }),
    );
  }
  return new TieredStore(stores, {
    promoteMaxBytes: config.memoryCacheMaxItemBytes,
    onError: options.onError,
    tempDir: disk.tempDir,
  });
}
