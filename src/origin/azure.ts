import type { Readable } from 'node:stream';
import {
  AnonymousCredential,
  BlobServiceClient,
  type ContainerClient,
  StorageSharedKeyCredential,
} from '@azure/storage-blob';
import {
  NotFoundError,
  OriginError,
  OriginTimeoutError,
  ProxyError,
  RangeNotSatisfiableError,
} from '../errors.js';
import { AzureWriter } from './azure-writer.js';
import { chooseContentType } from './content-type.js';
import { callWithDeadline } from './deadline.js';
import { ORIGIN_MESSAGES } from './messages.js';
import { checkSourcePath, listingPrefix } from './source-path.js';
import { windowStream } from './stream.js';
import type { ByteRange, Origin, OriginWriter, SourceListing, SourceStat } from './types.js';

/**
 * How the proxy signs in to Azure Blob Storage: a connection string (which may name its own blob
 * endpoint, as Azurite's does), an account name and key, or an account name and a SAS token.
 */
export type AzureAuth =
  | { kind: 'connection-string'; connectionString: string }
  | { kind: 'key'; account: string; key: string }
  | { kind: 'sas'; account: string; sas: string };

/** Where an Azure origin reads from. */
export interface AzureOriginOptions {
  container: string;
  /** Blob-name prefix for every source, `''` or ending in `/` (added when missing). */
  prefix: string;
  auth: AzureAuth;
  /** Budget for an answer (headers), and for each try of a call. */
  timeoutMs: number;
  /** A ready container client (another prefix of the same container); built from `auth` when absent. */
  containerClient?: ContainerClient;
}

/** The SDK's `RestError` as far as this adapter reads it. */
interface AzureErrorShape {
  name?: string;
  code?: string;
  statusCode?: number;
  details?: { errorCode?: string };
}

const DENIED_CODES = new Set([
  'AuthenticationFailed',
  'AuthorizationFailure',
  'AuthorizationPermissionMismatch',
  'AuthorizationResourceTypeMismatch',
  'AuthorizationSourceIPMismatch',
  'AuthorizationProtocolMismatch',
  'InvalidAuthenticationInfo',
  'AccountIsDisabled',
]);
const {
  unavailable: ORIGIN_UNAVAILABLE,
  refused: ORIGIN_REFUSED,
  failed: ORIGIN_FAILED,
  timeout: ORIGIN_TIMEOUT,
  notFound: NOT_FOUND,
} = ORIGIN_MESSAGES;

/** Azure's error code: in the body for most calls, in `x-ms-error-code` (details) for HEADs. */
export function azureErrorCode(error: unknown): string {
  const e = (error ?? {}) as AzureErrorShape;
  return e.details?.errorCode ?? e.code ?? '';
}

/** The blob service client `auth` describes, with the SDK's retries bounded by `timeoutMs`. */
export function azureServiceClient(auth: AzureAuth, timeoutMs: number): BlobServiceClient {
  const options = { retryOptions: { maxTries: 3, tryTimeoutInMs: timeoutMs, retryDelayInMs: 200 } };
  switch (auth.kind) {
    case 'connection-string':
      return BlobServiceClient.fromConnectionString(auth.connectionString, options);
    case 'key':
      return new BlobServiceClient(
        `https://${auth.account}.blob.core.windows.net`,
        new StorageSharedKeyCredential(auth.account, auth.key),
        options,
      );
    case 'sas':
      return new BlobServiceClient(
        `https://${auth.account}.blob.core.windows.net?${auth.sas.replace(/^\?/, '')}`,
        new AnonymousCredential(),
        options,
      );
  }
}

function isInvalidRange(error: unknown): boolean {
  return azureErrorCode(error) === 'InvalidRange' || (error as AzureErrorShape)?.statusCode === 416;
}

/** The total of a `Content-Range: bytes a-b/total` header, if there is one. */
function contentRangeTotal(header: string | undefined): number | undefined {
  const match = header ? /\/(\d+)\s*$/.exec(header) : null;
  return match ? Number(match[1]) : undefined;
}

/** Errors that mean the configured container is absent (a configuration fault, not a missing source). */
const MISSING_CONTAINER = new WeakSet<OriginError>();

/**
 * Sources from an Azure Blob Storage container (or Azurite). Ranged reads map to `Get Blob` with
 * `x-ms-range`, so a thumbnail reads only the bytes it needs; the version is the blob's ETag. This is
 * the one place Azure's error vocabulary (`RestError` codes and statuses) is translated.
 */
export class AzureOrigin implements Origin {
  readonly kind = 'azure';
  readonly #container: ContainerClient;
  readonly #containerName: string;
  readonly #prefix: string;
  readonly #timeoutMs: number;
  #containerSeen = false;
  /** Uploads and records (see `AzureWriter`). */
  readonly writer: OriginWriter;

  constructor(options: AzureOriginOptions) {
    this.#containerName = options.container;
    this.#prefix =
      options.prefix === '' || options.prefix.endsWith('/') ? options.prefix : `${options.prefix}/`;
    this.#timeoutMs = options.timeoutMs;
    this.#container =
      options.containerClient ??
      azureServiceClient(options.auth, options.timeoutMs).getContainerClient(options.container);
    this.writer = new AzureWriter({
      container: this.#container,
      prefix: this.#prefix,
      call: (call, signal) => this.#call(call, signal),
      translate: (error) => this.#translate(error),
      readPrefix: (prefix) => new AzureOrigin({ ...options, prefix, containerClient: this.#container }),
    });
  }

  #blob(source: string) {
    return this.#container.getBlobClient(this.#prefix + checkSourcePath(source));
  }

  /** The log-only account of a failed call: which container at which account, what Azure said. */
  #where(what: string): string {
    return `Azure ${what || 'request failed'} (container '${this.#containerName}' at ${this.#container.url.replace(/\?.*$/, '')})`;
  }

  #missingContainer(cause: unknown): OriginError {
    const error = new OriginError(ORIGIN_UNAVAILABLE, {
      cause,
      detail: `Azure container '${this.#containerName}' does not exist`,
    });
    MISSING_CONTAINER.add(error);
    return error;
  }

  #translate(error: unknown): ProxyError {
    if (error instanceof ProxyError) return error;
    const e = (error ?? {}) as AzureErrorShape;
    const code = azureErrorCode(error);
    const status = e.statusCode;
    if (code === 'ContainerNotFound') return this.#missingContainer(error);
    if (code === 'BlobNotFound' || status === 404) return new NotFoundError(NOT_FOUND, { cause: error });
    if (status === 401 || status === 403 || DENIED_CODES.has(code)) {
      return new OriginError(ORIGIN_REFUSED, {
        cause: error,
        detail:
          `Azure refused the proxy's credentials for container '${this.#containerName}' (${code || status}): ` +
          'check AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_ACCOUNT/AZURE_STORAGE_KEY or the ' +
          "SAS token's permissions (read, list) and expiry",
      });
    }
    if (e.name === 'AbortError' || code === 'ETIMEDOUT' || code === 'OperationTimedOut') {
      return new OriginTimeoutError(ORIGIN_TIMEOUT, { cause: error, detail: this.#where(code) });
    }
    return new OriginError(ORIGIN_FAILED, {
      cause: error,
      detail: this.#where(code || (error as Error)?.message),
    });
  }

  /** Runs one SDK call under the origin timeout and the caller's signal (as the S3 adapter does). */
  async #call<T>(call: (abortSignal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> {
    return callWithDeadline(call, {
      signal,
      timeoutMs: this.#timeoutMs,
      timeoutDetail: () => this.#where('deadline'),
      translate: (error) => this.#translate(error),
    });
  }

  /** Whether the container exists, asked once: a bare 404 to a HEAD cannot tell blob from container. */
  async #assertContainer(signal?: AbortSignal): Promise<void> {
    if (this.#containerSeen) return;
    try {
      await this.ping(signal);
      this.#containerSeen = true;
    } catch (error) {
      if (error instanceof OriginError && MISSING_CONTAINER.has(error)) throw error;
    }
  }

  /** `Get Blob Properties`: size, ETag as version, last modified and content type. */
  async stat(source: string, signal?: AbortSignal): Promise<SourceStat> {
    const blob = this.#blob(source);
    try {
      const props = await this.#call((abortSignal) => blob.getProperties({ abortSignal }), signal);
      this.#containerSeen = true;
      if (props.contentLength === undefined)
        throw new OriginError(ORIGIN_FAILED, { detail: this.#where(`no size for '${blob.name}'`) });
      return {
        size: props.contentLength,
        version: props.etag ?? `${props.contentLength}-${props.lastModified?.getTime() ?? 0}`,
        lastModified: props.lastModified,
        contentType: chooseContentType(props.contentType, source),
      };
    } catch (error) {
      if (error instanceof NotFoundError) await this.#assertContainer(signal);
      throw error;
    }
  }

  /**
   * `Get Blob` with a range (Azure clamps the end to the blob). A start past the end is
   * `RangeNotSatisfiableError`; a body shorter than announced errors the stream.
   */
  async read(source: string, range?: ByteRange, signal?: AbortSignal): Promise<Readable> {
    const blob = this.#blob(source);
    let body: NodeJS.ReadableStream | undefined;
    let length: number | undefined;
    let total: number | undefined;
    try {
      const answer = await this.#call(
        (abortSignal) =>
          range
            ? blob.download(range.start, range.end - range.start + 1, { abortSignal })
            : blob.download(0, undefined, { abortSignal }),
        signal,
      );
      body = answer.readableStreamBody;
      length = answer.contentLength;
      total = contentRangeTotal(answer.contentRange);
    } catch (error) {
      if (error instanceof NotFoundError) await this.#assertContainer(signal);
      if (range && error instanceof ProxyError && isInvalidRange(error.cause)) {
        const { size } = await this.stat(source, signal);
        throw new RangeNotSatisfiableError(size);
      }
      throw error;
    }
    // Azurite answers a range starting exactly at the end with an empty 206 where Azure says 416.
    if (range && total !== undefined && range.start >= total) {
      (body as Readable | undefined)?.destroy?.();
      throw new RangeNotSatisfiableError(total);
    }
    if (!body) throw new OriginError(ORIGIN_FAILED, { detail: this.#where(`no body for '${blob.name}'`) });
    return windowStream(body as Readable, {
      length,
      mapError: (error) => (signal?.aborted ? signal.reason : this.#translate(error)),
    });
  }

  /**
   * A one-name `List Blobs` under the prefix: the container exists and the credentials are
   * accepted. Listing rather than `Get Container Properties`, which a container-scoped SAS token
   * (read + list) is not allowed to call.
   */
  async ping(signal?: AbortSignal): Promise<void> {
    try {
      await this.#call(
        (abortSignal) =>
          this.#container
            .listBlobsFlat({ prefix: this.#prefix, abortSignal })
            .byPage({ maxPageSize: 1 })
            .next(),
        signal,
      );
    } catch (error) {
      if (error instanceof NotFoundError) throw this.#missingContainer(error.cause);
      throw error;
    }
  }

  /** Blobs under `dir` (`''` for the prefix root), in name order, at most `limit`. */
  async list(dir: string, limit: number): Promise<SourceListing[]> {
    const prefix = this.#prefix + listingPrefix(dir);
    const out: SourceListing[] = [];
    try {
      let pages = 0;
      // Each page holds up to 1000 names; the bound keeps a huge container from looping for long.
      for await (const page of this.#container.listBlobsFlat({ prefix }).byPage({ maxPageSize: 1000 })) {
        for (const item of page.segment.blobItems) {
          if (out.length >= limit || item.name.endsWith('/')) continue;
          const path = item.name.slice(this.#prefix.length);
          // Dot names are never served (see `sourcePathSegments`), so they are not listed either.
          if (path.split('/').some((segment) => segment.startsWith('.'))) continue;
          out.push({ path, size: item.properties.contentLength ?? 0 });
        }
        if (out.length >= limit || ++pages >= 1000) break;
      }
    } catch (error) {
      throw this.#translate(error);
    }
    return out;
  }
}
