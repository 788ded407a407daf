import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { BlobServiceClient, ContainerClient } from '@azure/storage-blob';
import { type AzureAuth, azureErrorCode, azureServiceClient } from '../origin/azure.js';
import { windowStream } from '../origin/stream.js';
import type { ByteRange } from '../origin/types.js';
import type { CacheBody, CachedObject, CacheMeta, CacheStore, CacheTier } from './types.js';
import {
  assertSizeMatches,
  cacheError,
  decodeMetaHeader,
  encodeMetaHeader,
  hashKey,
  parseMeta,
  resolveRange,
} from './util.js';

/** Where the shared result tier lives in Azure Blob Storage. */
export interface AzureStoreOptions {
  /** A service client to share, or the credentials to build one. */
  client: BlobServiceClient | { auth: AzureAuth; timeoutMs?: number };
  container: string;
  /** Blob-name prefix inside the container, e.g. `results/` (include the trailing slash). */
  prefix?: string;
}

/** Metadata name (`x-ms-meta-cachemeta`) holding the entry's `CacheMeta`; Azure wants C# identifiers. */
const META_NAME = 'cachemeta';

/**
 * The shared result tier in an Azure container: one block blob per entry at
 * `<prefix><aa>/<sha256(key)>`, its `CacheMeta` as base64url JSON in blob metadata. A block blob
 * becomes visible only when its block list is committed, so a reader never sees a partial body.
 * Absent blobs are misses; every other failure rejects with a `ProxyError` (`cache_error`).
 */
export class AzureStore implements CacheStore {
  readonly tier: CacheTier = 'azure';
  private readonly container: ContainerClient;
  private readonly name: string;
  private readonly prefix: string;

  constructor(options: AzureStoreOptions) {
    const service =
      'auth' in options.client
        ? azureServiceClient(options.client.auth, options.client.timeoutMs ?? 30_000)
        : options.client;
    this.container = service.getContainerClient(options.container);
    this.name = options.container;
    this.prefix = options.prefix ?? '';
  }

  /** Get Blob Properties; the body is fetched only when `open` is called (ranged when asked). */
  async get(key: string): Promise<CachedObject | undefined> {
    const blobName = this.blobName(key);
    const blob = this.container.getBlobClient(blobName);
    let props: Awaited<ReturnType<typeof blob.getProperties>>;
    try {
      props = await blob.getProperties();
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw cacheError(`Azure cache could not read ${this.where(blobName)}`, error);
    }
    const meta = decodeMetaHeader(props.metadata?.[META_NAME]);
    // A blob without our meta, or whose length disagrees with it, is not an entry we wrote.
    if (!meta || props.contentLength !== meta.size) return undefined;
    return this.azureObject(blobName, meta, props.etag);
  }

  /** Uploads the buffer or the file (read, never moved) and commits it in one step. */
  async put(key: string, meta: CacheMeta, body: CacheBody): Promise<void> {
    const cleanMeta = parseMeta(meta);
    if (!cleanMeta) throw cacheError(`Refusing to cache ${key}: its meta is not well formed`);
    const blobName = this.blobName(key);
    const blob = this.container.getBlockBlobClient(blobName);
    const options = {
      blobHTTPHeaders: { blobContentType: cleanMeta.contentType },
      metadata: { [META_NAME]: encodeMetaHeader(cleanMeta) },
    };
    try {
      if ('buffer' in body) {
        assertSizeMatches(cleanMeta, body.buffer.length, key);
        await blob.uploadData(body.buffer, options);
      } else {
        assertSizeMatches(cleanMeta, (await stat(body.file)).size, key);
        await blob.uploadFile(body.file, options);
      }
    } catch (error) {
      throw cacheError(`Azure cache could not write ${this.where(blobName)}`, error);
    }
  }

  /** Delete Blob; absent blobs are fine. */
  async delete(key: string): Promise<void> {
    const blobName = this.blobName(key);
    try {
      await this.container.getBlobClient(blobName).deleteIfExists();
    } catch (error) {
      throw cacheError(`Azure cache could not delete ${this.where(blobName)}`, error);
    }
  }

  private where(blobName: string): string {
    return `azure://${this.name}/${blobName}`;
  }

  private blobName(key: string): string {
    const id = hashKey(key);
    return `${this.prefix}${id.slice(0, 2)}/${id}`;
  }

  private azureObject(blobName: string, meta: CacheMeta, etag: string | undefined): CachedObject {
    const blob = this.container.getBlobClient(blobName);
    const label = this.where(blobName);
    return {
      meta,
      tier: 'azure',
      async open(range?: ByteRange): Promise<Readable> {
        const resolved = resolveRange(range, meta.size);
        const start = resolved?.start ?? 0;
        const expected = resolved ? resolved.end - resolved.start + 1 : meta.size;
        // Azure has no empty range to ask for; an empty entry is known empty from its meta.
        if (expected === 0) return Readable.from([]);
        let body: NodeJS.ReadableStream | undefined;
        try {
          const answer = await blob.download(start, expected, {
            // The blob we described in `get`, not one written since with other meta.
            conditions: etag ? { ifMatch: etag } : undefined,
          });
          body = answer.readableStreamBody;
        } catch (error) {
          throw cacheError(`Azure cache could not read ${label}`, error);
        }
        if (!body) throw cacheError(`Azure cache got no body for ${label}`);
        return windowStream(body as Readable, {
          length: expected,
          mapError: (error) => cacheError(`Azure cache body of ${label} failed`, error),
        });
      },
    };
  }
}

/** A missing blob is a miss; a missing container is a configuration fault and stays an error. */
function isNotFound(error: unknown): boolean {
  const code = azureErrorCode(error);
  if (code === 'ContainerNotFound') return false;
  return code === 'BlobNotFound' || (error as { statusCode?: number })?.statusCode === 404;
}
