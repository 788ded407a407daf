import type { Config } from '../config/index.js';
import { DiskStore } from './disk.js';
import { MemoryStore } from './memory.js';
import { S3Store } from './s3.js';
import { TieredStore } from './tiered.js';
import type { CacheStore } from './types.js';

export { DiskStore, type DiskStoreOptions } from './disk.js';
export { type CacheKeyParts, cacheKey } from './key.js';
export { MemoryStore, type MemoryStoreOptions } from './memory.js';
export { S3Store, type S3StoreOptions } from './s3.js';
export { TieredStore, type TieredStoreOptions } from './tiered.js';
export type * from './types.js';

/**
 * Builds the cache from configuration: memory, then disk, then (with `RESULT_BUCKET`) the shared
 * S3 tier. Opening the disk tier cleans up after a crash and may take a moment on a large cache.
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
  if (config.resultBucket) {
    stores.push(
      new S3Store({
        client: {
          region: config.s3.region,
          endpoint: config.s3.endpoint,
          forcePathStyle: config.s3.forcePathStyle,
        },
        bucket: config.resultBucket.bucket,
        prefix: config.resultBucket.prefix,
      }),
    );
  }
  return new TieredStore(stores, {
    promoteMaxBytes: config.memoryCacheMaxItemBytes,
    onError: options.onError,
    tempDir: disk.tempDir,
  });
}
