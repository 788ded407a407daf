import { randomUUID } from 'node:crypto';
import { createWriteStream, type Dirent } from 'node:fs';
import {
  link,
  mkdir,
  readdir,
  readFile,
  realpath,
  rename,
  rmdir,
  stat,
  unlink,
  writeFile,
} from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ConflictError, NotFoundError, OriginError, ProxyError } from '../errors.js';
import { ORIGIN_MESSAGES } from './messages.js';
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
import { countBytes, putThroughStaging } from './write-util.js';

/** Most entries one folder listing walks (recursively); the media library documents this bound. */
export const MAX_FOLDER_SCAN = 200_000;

function errnoOf(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

function failed(error: unknown, what: string): ProxyError {
  if (error instanceof ProxyError) return error;
  return new OriginError(ORIGIN_MESSAGES.failed, {
    cause: error,
    detail: `folder origin: ${what}: ${(error as Error | undefined)?.message ?? String(error)}`,
  });
}

function isInside(root: string, candidate: string): boolean {
  return candidate.startsWith(root.endsWith(path.sep) ? root : root + path.sep);
}

/** Every regular file under `base` (recursively) as `/`-joined paths relative to `base`, bounded. */
async function walk(base: string, skipDots: boolean): Promise<Array<{ rel: string; full: string }>> {
  const out: Array<{ rel: string; full: string }> = [];
  const pending = [''];
  while (pending.length > 0 && out.length < MAX_FOLDER_SCAN) {
    const current = pending.pop()!;
    let entries: Dirent[];
    try {
      entries = await readdir(path.join(base, current), { withFileTypes: true });
    } catch (error) {
      if (current === '' && ['ENOENT', 'ENOTDIR'].includes(errnoOf(error) ?? '')) return [];
      if (current === '') throw error;
      continue;
    }
    for (const entry of entries) {
      if (skipDots && entry.name.startsWith('.')) continue;
      const rel = current === '' ? entry.name : `${current}/${entry.name}`;
      if (entry.isDirectory()) pending.push(rel);
      else if (entry.isFile()) out.push({ rel, full: path.join(base, rel) });
    }
  }
  return out.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
}

/** A page of sorted items after `cursor`. */
function page<T extends { rel: string }>(
  items: T[],
  cursor: string | undefined,
  limit: number,
): { items: T[]; cursor?: string } {
  const start = cursor === undefined ? 0 : items.findIndex((item) => item.rel > cursor);
  if (start < 0) return { items: [] };
  const slice = items.slice(start, start + limit);
  const more = start + limit < items.length;
  return { items: slice, cursor: more && slice.length > 0 ? slice[slice.length - 1]!.rel : undefined };
}

/**
 * The write side of a folder origin. Uploads are written to a temp file under
 * `<root>/.ik-proxy/staging/` (the same file system, so a commit is a `rename`, atomic for
 * readers) and removed on any failure; records are written to a temp file and renamed (or
 * hard-linked for a conditional create), so a reader never sees half a record. Every target
 * path is checked like a read path, and its real parent must stay inside the real root.
 */
export class FsWriter implements OriginWriter {
  readonly #root: string;
  readonly #reserved: string;
  readonly #stagingDir: string;
  readonly #recordsDir: string;
  readonly #tmpDir: string;
  readonly #readFolder: (folder: string) => Origin;
  #staged: Origin | undefined;
  readonly records: RecordStore;

  /**
   * @param root the folder origin's root, already resolved.
   * @param readFolder a read-only origin over a folder (the staging folder's reader).
   */
  constructor(root: string, readFolder: (folder: string) => Origin) {
    this.#root = root;
    this.#reserved = path.join(root, RESERVED_FOLDER);
    this.#stagingDir = path.join(this.#reserved, 'staging');
    this.#recordsDir = path.join(this.#reserved, 'records');
    this.#tmpDir = path.join(this.#reserved, 'tmp');
    this.#readFolder = readFolder;
    this.records = {
      get: (key) => this.#getRecord(key),
      put: (key, body, options) => this.#putRecord(key, body, options?.ifAbsent ?? false),
      delete: (key) => this.#deleteRecord(key),
      list: (prefix, options) => this.#listRecords(prefix, options),
    };
  }

  /** Read access to staged files by id (made on first use: it is a folder origin itself). */
  get staged(): Origin {
    this.#staged ??= this.#readFolder(this.#stagingDir);
    return this.#staged;
  }

  async #realRoot(): Promise<string> {
    try {
      return await realpath(this.#root);
    } catch (error) {
      throw new OriginError(ORIGIN_MESSAGES.unavailable, {
        cause: error,
        detail: `folder origin ${this.#root} is not a readable folder`,
      });
    }
  }

  /** Streams `body` to `<root>/.ik-proxy/staging/<uuid>`; removes the file on any failure. */
  async stage(body: Readable, options: PutOptions = {}): Promise<StagedObject> {
    const id = randomUUID();
    const file = path.join(this.#stagingDir, id);
    try {
      await mkdir(this.#stagingDir, { recursive: true });
    } catch (error) {
      body.destroy();
      throw failed(error, 'cannot create the staging folder');
    }
    const counter = countBytes();
    try {
      await pipeline(body, counter, createWriteStream(file, { flags: 'wx' }), { signal: options.signal });
    } catch (error) {
      await unlink(file).catch(() => undefined);
      if (options.signal?.aborted) throw options.signal.reason;
      throw failed(error, 'staging write failed');
    }
    return { id, size: counter.bytes, contentType: options.contentType };
  }

  /** The absolute target of a source path, its real parent created and checked inside the root. */
  async #target(source: string): Promise<string> {
    const relative = checkSourcePath(source);
    const root = await this.#realRoot();
    const target = path.resolve(root, relative);
    if (!isInside(root, target)) throw new NotFoundError(ORIGIN_MESSAGES.notFound);
    const parent = path.dirname(target);
    try {
      await mkdir(parent, { recursive: true });
    } catch (error) {
      if (['EEXIST', 'ENOTDIR'].includes(errnoOf(error) ?? ''))
        throw new ConflictError('A file already exists where the folder would be');
      throw failed(error, 'cannot create the folder');
    }
    const realParent = await realpath(parent);
    if (realParent !== root && !isInside(root, realParent)) throw new NotFoundError(ORIGIN_MESSAGES.notFound);
    return path.join(realParent, path.basename(target));
  }

  async commit(
    staged: StagedObject,
    source: string,
    options: { ifAbsent?: boolean } = {},
  ): Promise<WrittenObject> {
    const from = path.join(this.#stagingDir, checkSourcePath(staged.id));
    const target = await this.#target(source);
    try {
      const existing = await stat(target).catch(() => undefined);
      if (existing?.isDirectory()) throw new ConflictError('A folder already exists at that path');
      if (options.ifAbsent) {
        // link() refuses an existing target atomically, unlike rename().
        await link(from, target);
        await unlink(from);
      } else {
        await rename(from, target);
      }
    } catch (error) {
      if (errnoOf(error) === 'EEXIST') throw new ConflictError('A file already exists at that path');
      throw failed(error, 'commit failed');
    }
    const info = await stat(target, { bigint: true });
    return {
      path: checkSourcePath(source),
      size: Number(info.size),
      version: `${info.size}-${info.mtimeNs}`,
      lastModified: new Date(Number(info.mtimeMs)),
    };
  }

  async sweepStaging(olderThanMs: number): Promise<number> {
    const entries = await readdir(this.#stagingDir).catch(() => [] as string[]);
    const tmp = await readdir(this.#tmpDir).catch(() => [] as string[]);
    let removed = 0;
    const cutoff = Date.now() - olderThanMs;
    for (const file of [
      ...entries.map((name) => path.join(this.#stagingDir, name)),
      ...tmp.map((name) => path.join(this.#tmpDir, name)),
    ]) {
      const info = await stat(file).catch(() => undefined);
      if (
        info &&
        info.mtimeMs < cutoff &&
        (await unlink(file).then(
          () => true,
          () => false,
        ))
      )
        removed++;
    }
    return removed;
  }

  async discard(staged: StagedObject): Promise<void> {
    await unlink(path.join(this.#stagingDir, checkSourcePath(staged.id))).catch(() => undefined);
  }

  async put(
    source: string,
    body: Readable,
    options: PutOptions & { ifAbsent?: boolean } = {},
  ): Promise<WrittenObject> {
    return putThroughStaging(this, source, body, options);
  }

  async delete(source: string): Promise<boolean> {
    const relative = checkSourcePath(source);
    const root = await this.#realRoot();
    const target = path.resolve(root, relative);
    if (!isInside(root, target)) return false;
    try {
      const realParent = await realpath(path.dirname(target));
      if (realParent !== root && !isInside(root, realParent)) return false;
      await unlink(path.join(realParent, path.basename(target)));
    } catch (error) {
      if (['ENOENT', 'ENOTDIR', 'EISDIR', 'EPERM'].includes(errnoOf(error) ?? '')) return false;
      throw failed(error, 'delete failed');
    }
    // Empty folders left behind are removed (up to the root), as an object store would show it.
    for (let dir = path.dirname(target); dir !== root && isInside(root, dir); dir = path.dirname(dir)) {
      if (
        !(await rmdir(dir).then(
          () => true,
          () => false,
        ))
      )
        break;
    }
    return true;
  }

  async listObjects(dir: string, options: { cursor?: string; limit: number }): Promise<ObjectPage> {
    const prefix = listingPrefix(dir);
    const root = await this.#realRoot();
    let files: Array<{ rel: string; full: string }>;
    try {
      files = (await walk(path.join(root, prefix), true)).map((f) => ({ ...f, rel: prefix + f.rel }));
    } catch (error) {
      throw failed(error, 'listing failed');
    }
    const chosen = page(files, options.cursor, options.limit);
    const items: ObjectPage['items'] = [];
    for (const file of chosen.items) {
      const info = await stat(file.full).catch(() => undefined);
      if (info) items.push({ path: file.rel, size: info.size, lastModified: info.mtime });
    }
    return { items, cursor: chosen.cursor };
  }

  #recordPath(key: string): string {
    return path.join(this.#recordsDir, checkSourcePath(key));
  }

  async #getRecord(key: string): Promise<Buffer | undefined> {
    try {
      return await readFile(this.#recordPath(key));
    } catch (error) {
      if (['ENOENT', 'ENOTDIR', 'EISDIR'].includes(errnoOf(error) ?? '')) return undefined;
      throw failed(error, 'record read failed');
    }
  }

  async #putRecord(key: string, body: Buffer, ifAbsent: boolean): Promise<boolean> {
    const target = this.#recordPath(key);
    const temp = path.join(this.#tmpDir, `${randomUUID()}.tmp`);
    try {
      await mkdir(this.#tmpDir, { recursive: true });
      await mkdir(path.dirname(target), { recursive: true });
      await writeFile(temp, body, { flag: 'wx' });
      if (ifAbsent) {
        try {
          await link(temp, target);
        } catch (error) {
          if (errnoOf(error) === 'EEXIST') return false;
          throw error;
        }
        return true;
      }
      await rename(temp, target);
      return true;
    } catch (error) {
      throw failed(error, 'record write failed');
    } finally {
      await unlink(temp).catch(() => undefined);
    }
  }

  async #deleteRecord(key: string): Promise<void> {
    await unlink(this.#recordPath(key)).catch((error: unknown) => {
      if (!['ENOENT', 'ENOTDIR'].includes(errnoOf(error) ?? '')) throw failed(error, 'record delete failed');
    });
  }

  async #listRecords(
    prefix: string,
    options: { cursor?: string; limit: number },
  ): Promise<{ keys: string[]; cursor?: string }> {
    const dir = listingPrefix(prefix);
    let files: Array<{ rel: string; full: string }>;
    try {
      files = (await walk(path.join(this.#recordsDir, dir), false)).map((f) => ({ ...f, rel: dir + f.rel }));
    } catch (error) {
      throw failed(error, 'record listing failed');
    }
    const chosen = page(files, options.cursor, options.limit);
    return { keys: chosen.items.map((item) => item.rel), cursor: chosen.cursor };
  }
}
