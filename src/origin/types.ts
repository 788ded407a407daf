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
