import type { Readable } from 'node:stream';

/** What the proxy knows about a source object without reading it. */
export interface SourceStat {
  /** Size in bytes. */
  size: number;
  /** Backend version token (S3/HTTP ETag, or size+mtime for folders); part of every cache key. */
  version: string;
  lastModified?: Date;
  contentType?: string;
}

/** An inclusive byte range, as in HTTP `Range: bytes=start-end`. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * A place source files live. Paths are relative to the origin root, `/`-separated, never
 * starting with `/`. Adapters translate their backend's failures into `NotFoundError`,
 * `OriginError` and `OriginTimeoutError` at this boundary.
 */
export interface Origin {
  /** Short name for logs and metrics: `fs`, `s3` or `http`. */
  readonly kind: string;
  /** Size and identity of a source; `NotFoundError` when absent. */
  stat(path: string, signal?: AbortSignal): Promise<SourceStat>;
  /**
   * A stream of the bytes in `range` (the whole object without one). The stream errors with an
   * `OriginError` if the backend delivers fewer bytes than asked.
   */
  read(path: string, range?: ByteRange, signal?: AbortSignal): Promise<Readable>;
  /** Cheap reachability check for `/readyz`. */
  ping(signal?: AbortSignal): Promise<void>;
  /**
   * Optional: source files under `dir` (`''` for the root), recursively, at most `limit`, for the
   * playground. Paths are relative to the origin root like every other path here.
   */
  list?(dir: string, limit: number): Promise<SourceListing[]>;
}

/** One entry of `Origin.list`. */
export interface SourceListing {
  path: string;
  size: number;
}

/**
 * The proxy's own folder inside a writable origin: upload staging, file records (metadata
 * sidecars) and used upload tokens. It is a dot name, so `sourcePathSegments` refuses it and no
 * delivery route can ever serve anything under it.
 */
export const RESERVED_FOLDER = '.ik-proxy';

/** How `OriginWriter.stage` and `put` store a body. */
export interface PutOptions {
  /** Stored as the object's media type (S3 `Content-Type`, Azure `blobContentType`). */
  contentType?: string;
  /** Cancels the write; whatever was written is removed, as for any other failure. */
  signal?: AbortSignal;
}

/** An upload written to a hidden staging place, not yet visible under any source path. */
export interface StagedObject {
  /** Opaque id; the path of the staged bytes in `OriginWriter.staged`. */
  readonly id: string;
  /** Bytes stored. */
  readonly size: number;
  readonly contentType?: string;
}

/** What a committed object looks like to readers. */
export interface WrittenObject {
  path: string;
  size: number;
  /** The same token `Origin.stat` reports for it (cache keys use it). */
  version: string;
  lastModified: Date;
}

/** One page of `OriginWriter.listObjects`. */
export interface ObjectPage {
  items: Array<SourceListing & { lastModified?: Date }>;
  /** Pass back to get the next page; absent on the last page. */
  cursor?: string;
}

/**
 * Small records (JSON documents) under `RESERVED_FOLDER`: file metadata and used upload tokens.
 * Keys are `/`-separated, relative to the reserved folder, without dot segments or NUL.
 */
export interface RecordStore {
  /** The record's bytes, or `undefined` when there is none. */
  get(key: string, signal?: AbortSignal): Promise<Buffer | undefined>;
  /**
   * Writes a record whole (readers see the old or the new bytes, never a mix). With `ifAbsent`
   * it is created only when no record has that key: the answer is false when one already did
   * (a conditional create: `O_EXCL`, S3 `If-None-Match: *`, Azure `ifNoneMatch: '*'`).
   */
  put(key: string, body: Buffer, options?: { ifAbsent?: boolean }): Promise<boolean>;
  /** Removes a record; a missing one is not an error. */
  delete(key: string): Promise<void>;
  /** Keys under `prefix` (relative to the reserved folder), in key order, one page at a time. */
  list(
    prefix: string,
    options: { cursor?: string; limit: number },
  ): Promise<{ keys: string[]; cursor?: string }>;
}

/**
 * The write side of an origin, used by the upload and media library API. Read-only origins
 * (HTTP) have none, and the API answers 405 for them.
 *
 * Writes are two-phase so an upload is checked (sniffed, probed, limits) before anyone can see
 * it: `stage` streams the body to a hidden place (never buffering it whole), `commit` makes it
 * visible under its path in one step (rename, copy, or the backend's equivalent), `discard`
 * drops it. Any failure of `stage` (the body errors, the signal aborts, the backend fails)
 * removes everything it wrote before rethrowing: no temp file, no orphan multipart parts.
 * Errors are translated at the adapter's boundary like the read side's.
 */
export interface OriginWriter {
  /** Streams `body` into a new staging object. */
  stage(body: Readable, options?: PutOptions): Promise<StagedObject>;
  /** Read access to staged objects by `StagedObject.id` (for sniffing and probing before commit). */
  readonly staged: Origin;
  /**
   * Makes a staged object visible at `path` (a source path, checked like the read side's) and
   * removes the staging copy. `ifAbsent`: a `ConflictError` when `path` already exists.
   */
  commit(staged: StagedObject, path: string, options?: { ifAbsent?: boolean }): Promise<WrittenObject>;
  /** Drops a staged object; idempotent. */
  discard(staged: StagedObject): Promise<void>;
  /** `stage` then `commit`: a whole write in one call. */
  put(path: string, body: Readable, options?: PutOptions & { ifAbsent?: boolean }): Promise<WrittenObject>;
  /** Removes the object at `path`; false when there was none. */
  delete(path: string): Promise<boolean>;
  /** Objects under `dir` (recursively, `''` for the root), in path order, reserved folder excluded. */
  listObjects(dir: string, options: { cursor?: string; limit: number }): Promise<ObjectPage>;
  /** Records under the reserved folder. */
  readonly records: RecordStore;
  /**
   * Optional: removes staged objects (and, for S3, unfinished multipart uploads into staging)
   * older than `olderThanMs`, left by a process that died mid-upload. Returns how many went.
   */
  sweepStaging?(olderThanMs: number): Promise<number>;
}

/** An origin that can also be written. */
export interface WritableOrigin extends Origin {
  readonly writer: OriginWriter;
}

/** True when `origin` offers a write side. */
export function isWritable(origin: Origin): origin is WritableOrigin {
  return (origin as Partial<WritableOrigin>).writer !== undefined;
}
