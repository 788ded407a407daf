import type { Dirent } from 'node:fs';
import { open, readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { NotFoundError, OriginError, ProxyError, RangeNotSatisfiableError } from '../errors.js';
import { contentTypeFromPath } from './content-type.js';
import { FsWriter } from './fs-writer.js';
import { ORIGIN_MESSAGES } from './messages.js';
import { checkSourcePath, listingPrefix } from './source-path.js';
import { windowStream } from './stream.js';
import type { ByteRange, Origin, OriginWriter, SourceListing, SourceStat } from './types.js';

/** errno codes that mean "there is no such file here" rather than "the disk is unwell". */
const MISSING_CODES = new Set(['ENOENT', 'ENOTDIR', 'EISDIR', 'ENAMETOOLONG', 'ELOOP']);

/** Turns a filesystem error into the proxy's vocabulary; the path and errno stay in the log. */
function translate(error: unknown): ProxyError {
  if (error instanceof ProxyError) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code && MISSING_CODES.has(code)) return new NotFoundError(ORIGIN_MESSAGES.notFound, { cause: error });
  return new OriginError(ORIGIN_MESSAGES.failed, {
    cause: error,
    detail: `folder origin: ${(error as Error | undefined)?.message ?? String(error)}`,
  });
}

/** The folder itself is missing or unreadable: a configuration fault, named only in the log. */
function unavailable(root: string, cause: unknown): OriginError {
  return new OriginError(ORIGIN_MESSAGES.unavailable, {
    cause,
    detail: `folder origin ${root} is not a readable folder`,
  });
}

function isInside(root: string, candidate: string): boolean {
  return candidate === root || candidate.startsWith(root.endsWith(path.sep) ? root : root + path.sep);
}

function versionOf(size: bigint | number, mtimeNs: bigint): string {
  return `${size}-${mtimeNs}`;
}

/**
 * Sources from a local folder. Every path is resolved through symlinks and must stay inside the
 * (real) root; anything outside, directories and missing files all answer `NotFoundError`, so a
 * probe cannot tell an escape attempt from a typo. The version is size plus nanosecond mtime.
 */
export class FsOrigin implements Origin {
  readonly kind = 'fs';
  readonly #root: string;
  #realRoot: Promise<string> | undefined;
  /** Uploads and records (see `FsWriter`). */
  readonly writer: OriginWriter;

  /** @param root folder holding the sources; resolved against the working directory. */
  constructor(root: string) {
    this.#root = path.resolve(root);
    this.writer = new FsWriter(this.#root, (folder) => new FsOrigin(folder));
  }

  #rootReal(): Promise<string> {
    if (!this.#realRoot) {
      const pending = realpath(this.#root);
      // A root created after start-up should still work, so a failure is not memoised.
      pending.catch(() => {
        if (this.#realRoot === pending) this.#realRoot = undefined;
      });
      this.#realRoot = pending;
    }
    return this.#realRoot;
  }

  /** The real path of a source, refused unless it lies inside the real root. */
  async #resolve(source: string): Promise<string> {
    const relative = checkSourcePath(source);
    const root = await this.#rootReal().catch((error: unknown) => {
      throw unavailable(this.#root, error);
    });
    const lexical = path.resolve(root, relative);
    if (!isInside(root, lexical)) throw new NotFoundError(ORIGIN_MESSAGES.notFound);
    const real = await realpath(lexical);
    if (!isInside(root, real) || real === root) throw new NotFoundError(ORIGIN_MESSAGES.notFound);
    // A link with an ordinary name that leads to a dotfile (`clip.mp4 -> .env`) is not served either.
    if (
      path
        .relative(root, real)
        .split(path.sep)
        .some((segment) => segment.startsWith('.'))
    )
      throw new NotFoundError(ORIGIN_MESSAGES.notFound);
    return real;
  }

  /** Size, version (size + mtime in ns), mtime and the extension's content type. */
  async stat(source: string, signal?: AbortSignal): Promise<SourceStat> {
    signal?.throwIfAborted();
    try {
      const real = await this.#resolve(source);
      const info = await stat(real, { bigint: true });
      if (!info.isFile()) throw new NotFoundError(ORIGIN_MESSAGES.notFound);
      return {
        size: Number(info.size),
        version: versionOf(info.size, info.mtimeNs),
        lastModified: new Date(Number(info.mtimeMs)),
        contentType: contentTypeFromPath(source),
      };
    } catch (error) {
      throw translate(error);
    }
  }

  /**
   * Streams the file, or `range` of it with the end clamped to the file's size. A start past the
   * end is `RangeNotSatisfiableError`. A file that shrinks while being read errors the stream.
   */
  async read(source: string, range?: ByteRange, signal?: AbortSignal): Promise<Readable> {
    signal?.throwIfAborted();
    let handle: Awaited<ReturnType<typeof open>> | undefined;
    try {
      const real = await this.#resolve(source);
      handle = await open(real, 'r');
      const info = await handle.stat();
      if (!info.isFile()) throw new NotFoundError(ORIGIN_MESSAGES.notFound);
      const size = info.size;
      const start = range?.start ?? 0;
      const end = range ? Math.min(range.end, size - 1) : size - 1;
      if (range && start >= size) throw new RangeNotSatisfiableError(size);
      const length = Math.max(end - start + 1, 0);
      if (length === 0) {
        await handle.close();
        handle = undefined;
        return Readable.from([], { objectMode: false });
      }
      const body = handle.createReadStream({ start, end, autoClose: true, signal });
      handle = undefined;
      return windowStream(body, {
        length,
        mapError: (error) => (signal?.aborted ? signal.reason : translate(error)),
      });
    } catch (error) {
      await handle?.close().catch(() => undefined);
      throw translate(error);
    }
  }

  /** Succeeds when the root is a readable folder. */
  async ping(_signal?: AbortSignal): Promise<void> {
    try {
      const info = await stat(await this.#rootReal());
      if (!info.isDirectory()) throw new Error('not a directory');
    } catch (error) {
      throw unavailable(this.#root, error);
    }
  }

  /**
   * Regular files under `dir` (recursively, `''` for the root), sorted by path, at most `limit`.
   * Symlinks are skipped rather than followed, so a listing never leaves the root.
   */
  async list(dir: string, limit: number): Promise<SourceListing[]> {
    const prefix = listingPrefix(dir);
    const root = await this.#rootReal().catch((error: unknown) => {
      throw unavailable(this.#root, error);
    });
    const out: SourceListing[] = [];
    const pending: string[] = [prefix];
    while (pending.length > 0 && out.length < limit) {
      const current = pending.shift()!;
      let entries: Dirent[];
      try {
        entries = await readdir(path.join(root, current), { withFileTypes: true });
      } catch (error) {
        if (current === prefix) throw translate(error);
        continue;
      }
      entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const entry of entries) {
        if (entry.name.startsWith('.')) continue;
        const relative = current + entry.name;
        if (entry.isDirectory()) pending.push(`${relative}/`);
        else if (entry.isFile() && out.length < limit) {
          const info = await stat(path.join(root, relative)).catch(() => undefined);
          if (info) out.push({ path: relative, size: info.size });
        }
      }
    }
    return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)).slice(0, limit);
  }
}
