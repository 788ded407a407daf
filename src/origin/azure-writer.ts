import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { BlockBlobClient, ContainerClient } from '@azure/storage-blob';
import { ConflictError, NotFoundError, ProxyError } from '../errors.js';
import { azureErrorCode } from './azure.js';
import { checkSourcePath, listingPrefix } from './source-path.js';
import {
  type ObjectPage,
  type Origin,
  type OriginWriter,
  type PutOptions,
  RESERVED_FOLDER,
  type RecordStore,
  type StagedObject,
  type WrittenObject,
} from './types.js';
import { putThroughStaging } from './write-util.js';

/** Block size of staged uploads; with `UPLOAD_QUEUE` blocks in flight this bounds an upload's memory. */
export const AZURE_BLOCK_BYTES = 8 * 1024 * 1024;
/** Blocks uploaded at once per upload. */
export const AZURE_UPLOAD_QUEUE = 4;

/** What the writer borrows from its `AzureOrigin`: the container, the name space and the error vocabulary. */
export interface AzureWriterDeps {
  container: ContainerClient;
  /** The origin's blob-name prefix (`''` or ending in `/`). */
  prefix: string;
  /** Runs one SDK call under the origin timeout, translating Azure's errors. */
  call<T>(call: (abortSignal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T>;
  /** Translates an Azure error met outside `call` (a listing page). */
  translate(error: unknown): ProxyError;
  /** A read-only origin over another prefix of the same container (the staging area's reader). */
  readPrefix(prefix: string): Origin;
}

/** Block ids must all have the same length within a blob; base64 of a zero-padded counter. */
function blockId(index: number): string {
  return Buffer.from(String(index).padStart(8, '0')).toString('base64');
}

/** The Azure error behind a translated one. */
function codeOf(error: unknown): string {
  return azureErrorCode(error instanceof ProxyError ? error.cause : error);
}

function statusOf(error: unknown): number | undefined {
  const cause = error instanceof ProxyError ? error.cause : error;
  return (cause as { statusCode?: number } | undefined)?.statusCode;
}

/** A conditional create that found something there (`If-None-Match: *` on an existing blob). */
function isAlreadyThere(error: unknown): boolean {
  const code = codeOf(error);
  return code === 'BlobAlreadyExists' || code === 'ConditionNotMet' || statusOf(error) === 412;
}

/** A listing cursor: the page to resume at and the last name already returned (relative). */
interface Cursor {
  marker?: string;
  after: string;
}

function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify(cursor)).toString('base64url');
}

function decodeCursor(value: string | undefined): Cursor | undefined {
  if (value === undefined) return undefined;
  try {
    const parsed = JSON.parse(Buffer.from(value, 'base64url').toString('utf8')) as Partial<Cursor>;
    if (typeof parsed.after !== 'string') return undefined;
    return { after: parsed.after, marker: typeof parsed.marker === 'string' ? parsed.marker : undefined };
  } catch {
    return undefined;
  }
}

/**
 * The write side of an Azure origin. An upload streams as 8 MiB blocks (4 in flight, so about
 * 32 MiB of memory per upload whatever its size) to a staging blob under
 * `<prefix>.ik-proxy/staging/`, which becomes visible only when its block list is committed;
 * `commit` copies it to its path inside the account (`Copy Blob`, with `If-None-Match: *` for
 * `ifAbsent`) and deletes the staging blob. A failed or cancelled upload waits for the blocks in
 * flight, then discards its uncommitted blocks (an empty `Put Blob` replaces them, then a delete),
 * so nothing is left behind; Azure drops uncommitted blocks of a process killed mid-upload after a
 * week. Records are small block blobs under `<prefix>.ik-proxy/records/`; a conditional create is
 * `If-None-Match: *`, which Azure decides atomically.
 */
export class AzureWriter implements OriginWriter {
  readonly #deps: AzureWriterDeps;
  readonly #stagingPrefix: string;
  readonly #recordsPrefix: string;
  #staged: Origin | undefined;
  readonly records: RecordStore;

  constructor(deps: AzureWriterDeps) {
    this.#deps = deps;
    this.#stagingPrefix = `${deps.prefix}${RESERVED_FOLDER}/staging/`;
    this.#recordsPrefix = `${deps.prefix}${RESERVED_FOLDER}/records/`;
    this.records = {
      get: (key, signal) => this.#getRecord(key, signal),
      put: (key, body, options) => this.#putRecord(key, body, options?.ifAbsent ?? false),
      delete: async (key) => {
        await this.#deleteBlob(this.#recordsPrefix + checkSourcePath(key));
      },
      list: async (prefix, options) => {
        const page = await this.#list(this.#recordsPrefix, listingPrefix(prefix), options, false);
        return { keys: page.items.map((item) => item.path), cursor: page.cursor };
      },
    };
  }

  /** Read access to staged objects by id. */
  get staged(): Origin {
    this.#staged ??= this.#deps.readPrefix(this.#stagingPrefix);
    return this.#staged;
  }

  async stage(body: Readable, options: PutOptions = {}): Promise<StagedObject> {
    const id = randomUUID();
    const blob = this.#deps.container.getBlockBlobClient(this.#stagingPrefix + id);
    // Cancelling destroys the body, which ends the read loop below with the signal's reason.
    const onAbort = () => body.destroy(options.signal?.reason ?? new Error('upload cancelled'));
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      if (options.signal?.aborted) onAbort();
      const { ids, size } = await this.#stageBlocks(blob, body, options.signal);
      await this.#deps.call(
        (abortSignal) =>
          blob.commitBlockList(ids, {
            abortSignal,
            blobHTTPHeaders: options.contentType ? { blobContentType: options.contentType } : undefined,
          }),
        options.signal,
      );
      return { id, size, contentType: options.contentType };
    } catch (error) {
      await this.#discardBlocks(blob);
      if (options.signal?.aborted) throw options.signal.reason;
      if (error instanceof ProxyError) throw error;
      const streamFailure = body.errored;
      if (streamFailure instanceof ProxyError) throw streamFailure;
      throw this.#deps.translate(error);
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Reads `body` in `AZURE_BLOCK_BYTES` blocks and stages each, at most `AZURE_UPLOAD_QUEUE` at once.
   * On any failure it waits for the blocks still in flight before rejecting, so the cleanup that
   * follows cannot race a late block.
   */
  async #stageBlocks(
    blob: BlockBlobClient,
    body: Readable,
    signal: AbortSignal | undefined,
  ): Promise<{ ids: string[]; size: number }> {
    const ids: string[] = [];
    const inFlight = new Set<Promise<void>>();
    let failure: unknown;
    let size = 0;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const send = async (data: Buffer): Promise<void> => {
      const id = blockId(ids.length);
      ids.push(id);
      const sent: Promise<void> = this.#deps
        .call((abortSignal) => blob.stageBlock(id, data, data.length, { abortSignal }), signal)
        .then(
          () => undefined,
          (error: unknown) => {
            failure ??= error;
          },
        )
        .finally(() => inFlight.delete(sent));
      inFlight.add(sent);
      if (inFlight.size >= AZURE_UPLOAD_QUEUE) await Promise.race(inFlight);
    };
    try {
      for await (const chunk of body) {
        if (failure) throw failure;
        const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
        pending.push(bytes);
        pendingBytes += bytes.length;
        size += bytes.length;
        while (pendingBytes >= AZURE_BLOCK_BYTES) {
          const all = pending.length === 1 ? pending[0]! : Buffer.concat(pending);
          await send(all.subarray(0, AZURE_BLOCK_BYTES));
          const rest = all.subarray(AZURE_BLOCK_BYTES);
          pending = rest.length > 0 ? [rest] : [];
          pendingBytes = rest.length;
        }
      }
      if (pendingBytes > 0) await send(Buffer.concat(pending));
      await Promise.all(inFlight);
      if (failure) throw failure;
      return { ids, size };
    } catch (error) {
      await Promise.allSettled([...inFlight]);
      throw failure ?? error;
    }
  }

  /**
   * Drops a blob and any uncommitted blocks under its name (an empty Put Blob replaces them);
   * false when that failed.
   */
  async #discardBlocks(blob: BlockBlobClient): Promise<boolean> {
    try {
      await this.#deps.call((abortSignal) => blob.upload(Buffer.alloc(0), 0, { abortSignal }));
      await this.#deps.call((abortSignal) => blob.deleteIfExists({ abortSignal }));
      return true;
    } catch {
      // Best effort: Azure garbage-collects uncommitted blocks after a week.
      return false;
    }
  }

  async commit(
    staged: StagedObject,
    source: string,
    options: { ifAbsent?: boolean } = {},
  ): Promise<WrittenObject> {
    const { call, container } = this.#deps;
    const relative = checkSourcePath(source);
    const target = container.getBlobClient(this.#deps.prefix + relative);
    const from = container.getBlobClient(this.#stagingPrefix + checkSourcePath(staged.id));
    try {
      const poller = await call((abortSignal) =>
        target.beginCopyFromURL(from.url, {
          abortSignal,
          intervalInMs: 100,
          conditions: options.ifAbsent ? { ifNoneMatch: '*' } : undefined,
        }),
      );
      // A copy inside one account is usually done at once; the poll bounds the rest.
      const copied = await call(() => poller.pollUntilDone());
      if (copied.copyStatus && copied.copyStatus !== 'success') {
        throw this.#deps.translate(new Error(`copy ended ${copied.copyStatus}`));
      }
    } catch (error) {
      if (options.ifAbsent && isAlreadyThere(error)) {
        throw new ConflictError('A file already exists at that path');
      }
      throw error;
    }
    await this.#deleteBlob(from.name).catch(() => undefined);
    const props = await call((abortSignal) => target.getProperties({ abortSignal }));
    const size = props.contentLength ?? staged.size;
    return {
      path: relative,
      size,
      version: props.etag ?? `${size}-${props.lastModified?.getTime() ?? 0}`,
      lastModified: props.lastModified ?? new Date(),
    };
  }

  /**
   * Removes staging blobs older than `olderThanMs`, committed or not: a process that died
   * mid-upload leaves uncommitted blocks under a staging name (Azure would drop them after a week).
   */
  async sweepStaging(olderThanMs: number): Promise<number> {
    const cutoff = Date.now() - olderThanMs;
    let removed = 0;
    let scanned = 0;
    try {
      for await (const item of this.#deps.container.listBlobsFlat({
        prefix: this.#stagingPrefix,
        includeUncommitedBlobs: true,
      })) {
        // Bounded like a listing: a huge staging area is swept over several start-ups.
        if (++scanned > 10_000) break;
        const modified = item.properties.lastModified?.getTime() ?? 0;
        if (modified >= cutoff) continue;
        if (await this.#discardBlocks(this.#deps.container.getBlockBlobClient(item.name))) removed++;
      }
    } catch (error) {
      throw this.#deps.translate(error);
    }
    return removed;
  }

  async discard(staged: StagedObject): Promise<void> {
    const blob = this.#deps.container.getBlockBlobClient(this.#stagingPrefix + checkSourcePath(staged.id));
    await this.#deleteBlob(blob.name).catch(() => undefined);
  }

  put(
    source: string,
    body: Readable,
    options: PutOptions & { ifAbsent?: boolean } = {},
  ): Promise<WrittenObject> {
    return putThroughStaging(this, source, body, options);
  }

  delete(source: string): Promise<boolean> {
    return this.#deleteBlob(this.#deps.prefix + checkSourcePath(source));
  }

  /** Deletes a blob; false when there was none. */
  async #deleteBlob(name: string): Promise<boolean> {
    const answer = await this.#deps.call((abortSignal) =>
      this.#deps.container.getBlobClient(name).deleteIfExists({ abortSignal }),
    );
    return answer.succeeded;
  }

  listObjects(dir: string, options: { cursor?: string; limit: number }): Promise<ObjectPage> {
    return this.#list(this.#deps.prefix, listingPrefix(dir), options, true);
  }

  /**
   * Blobs under `base + prefix` after the cursor, up to `limit`, in name order, paths relative
   * to `base`. Azure's continuation markers point at page starts, so the cursor carries the marker
   * of the page it stopped in and the last name returned; names up to it are skipped on resume.
   */
  async #list(
    base: string,
    prefix: string,
    options: { cursor?: string; limit: number },
    skipDots: boolean,
  ): Promise<ObjectPage> {
    const resume = decodeCursor(options.cursor);
    const items: ObjectPage['items'] = [];
    let marker = resume?.marker;
    try {
      // Bounded: a container full of dot names cannot keep one listing looping.
      for (let round = 0; round < 200; round++) {
        const pages = this.#deps.container
          .listBlobsFlat({ prefix: base + prefix })
          .byPage({ maxPageSize: 1000, continuationToken: marker });
        const next = await pages.next();
        if (next.done) break;
        const page = next.value;
        const blobs = page.segment.blobItems;
        for (let index = 0; index < blobs.length; index++) {
          const item = blobs[index]!;
          const relative = item.name.slice(base.length);
          if (resume && relative <= resume.after) continue;
          if (item.name.endsWith('/')) continue;
          if (skipDots && relative.split('/').some((segment) => segment.startsWith('.'))) continue;
          items.push({
            path: relative,
            size: item.properties.contentLength ?? 0,
            lastModified: item.properties.lastModified,
          });
          if (items.length >= options.limit) {
            const more = index < blobs.length - 1 || Boolean(page.continuationToken);
            return { items, cursor: more ? encodeCursor({ marker, after: relative }) : undefined };
          }
        }
        if (!page.continuationToken) break;
        marker = page.continuationToken;
      }
    } catch (error) {
      throw this.#deps.translate(error);
    }
    return { items };
  }

  async #getRecord(key: string, signal?: AbortSignal): Promise<Buffer | undefined> {
    const blob = this.#deps.container.getBlobClient(this.#recordsPrefix + checkSourcePath(key));
    try {
      return await this.#deps.call(
        (abortSignal) => blob.downloadToBuffer(0, undefined, { abortSignal }),
        signal,
      );
    } catch (error) {
      if (error instanceof NotFoundError) return undefined;
      throw error;
    }
  }

  async #putRecord(key: string, body: Buffer, ifAbsent: boolean): Promise<boolean> {
    const blob = this.#deps.container.getBlockBlobClient(this.#recordsPrefix + checkSourcePath(key));
    try {
      await this.#deps.call((abortSignal) =>
        blob.upload(body, body.length, {
          abortSignal,
          blobHTTPHeaders: { blobContentType: 'application/json' },
          conditions: ifAbsent ? { ifNoneMatch: '*' } : undefined,
        }),
      );
      return true;
    } catch (error) {
      if (ifAbsent && isAlreadyThere(error)) return false;
      throw error;
    }
  }
}
