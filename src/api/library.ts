/**
 * The media library (ImageKit's Media Library API paths): list, details, update, delete, bulk
 * delete, media metadata and cache purge. Files are the origin's objects; their records (tags,
 * custom metadata...) come from the record store, and an object stored by other means is listed
 * with a bare record.
 */
import { randomUUID } from 'node:crypto';
import { NotFoundError, PayloadTooLargeError } from '../errors.js';
import type { OriginWriter } from '../origin/types.js';
import type { Logger } from '../render/logger.js';
import type { SourceReader } from '../render/sources.js';
import { deliveryUrl, fileObject, type UrlBase } from './answer.js';
import { InvalidFieldError } from './errors.js';
import { parseCustomMetadata, parseDescription, parseTags } from './fields.js';
import { fileIdOf, joinPath, pathOfFileId, safeFileName, safeFolder } from './names.js';
import { bareRecord, type FileRecord, type FileRecords } from './records.js';
import type { GuardedFetcher } from './url-source.js';

/** Most objects one list call looks at (filters and sorting apply within them). */
export const MAX_LIST_SCAN = 10_000;
/** Most ids one bulk delete takes. */
export const MAX_BULK_IDS = 100;
const RECORD_READS_AT_ONCE = 16;

/** What a deleted, replaced or purged file's cached outputs are dropped through on this node. */
export interface Invalidator {
  /** Forget `path` (a stored path, no leading `/`): its stat, facts and replayed answers. */
  forget(path: string): void;
}

/** What the library is built from. */
export interface LibraryDeps {
  writer: OriginWriter;
  files: FileRecords;
  /** The delivery side's source reader (media metadata, stats). */
  sources: SourceReader;
  invalidator: Invalidator;
  fetcher: GuardedFetcher;
  log: Logger;
  /** `PURGE_WEBHOOK_URL`: told of every purge, so a CDN can be purged too. */
  purgeWebhook?: URL;
  /** Signs what is posted to the hook (`WEBHOOK_SECRET`). */
  webhookSecret?: string;
}

/** Parsed list query (ImageKit's `GET /v1/files` parameters). */
export interface ListQuery {
  /** `undefined`: every folder; otherwise files directly in this folder. */
  folder?: string;
  tags?: string[];
  name?: string;
  fileType: 'all' | 'image' | 'non-image';
  sort: { by: 'created' | 'updated' | 'name' | 'size'; descending: boolean };
  skip: number;
  limit: number;
}

const SORTS: Record<string, ListQuery['sort']> = {
  ASC_CREATED: { by: 'created', descending: false },
  DESC_CREATED: { by: 'created', descending: true },
  ASC_UPDATED: { by: 'updated', descending: false },
  DESC_UPDATED: { by: 'updated', descending: true },
  ASC_NAME: { by: 'name', descending: false },
  DESC_NAME: { by: 'name', descending: true },
  ASC_SIZE: { by: 'size', descending: false },
  DESC_SIZE: { by: 'size', descending: true },
};

function wholeNumber(
  field: string,
  raw: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new InvalidFieldError(field, `Expected a whole number from ${min} to ${max}`);
  }
  return Number(raw);
}

/**
 * Pure: the subset of ImageKit's `searchQuery` this server answers: `name = "x"`, `tags = "a"` and
 * `tags IN ["a", "b"]`, joined by `AND`. Anything else is a 400 naming `searchQuery`.
 */
export function parseSearchQuery(raw: string): { name?: string; tags?: string[] } {
  if (raw.length > 2048) throw new InvalidFieldError('searchQuery', 'The query is over 2048 characters');
  const out: { name?: string; tags?: string[] } = {};
  for (const clause of raw.split(/\s+AND\s+/i)) {
    const text = clause.trim();
    const equals = /^(name|tags)\s*=\s*"([^"]*)"$/i.exec(text);
    const among = /^tags\s+IN\s+\[(.*)\]$/i.exec(text);
    if (equals) {
      if (equals[1]!.toLowerCase() === 'name') out.name = equals[2];
      else out.tags = [equals[2]!];
    } else if (among) {
      const tags = [...among[1]!.matchAll(/"([^"]*)"/g)].map((match) => match[1]!);
      if (tags.length === 0) throw new InvalidFieldError('searchQuery', 'Expected tags IN ["a", "b"]');
      out.tags = tags;
    } else {
      throw new InvalidFieldError(
        'searchQuery',
        'Only name = "x", tags = "a" and tags IN ["a", "b"] (joined by AND) are supported',
      );
    }
  }
  return out;
}

/** Pure: the list query from URL parameters; unknown or unsupported ones are a 400 naming them. */
export function parseListQuery(params: URLSearchParams): ListQuery {
  for (const key of new Set(params.keys())) {
    if (!['path', 'tags', 'name', 'searchQuery', 'fileType', 'type', 'sort', 'skip', 'limit'].includes(key)) {
      throw new InvalidFieldError(key, 'Unsupported list parameter');
    }
    if (params.getAll(key).length > 1) throw new InvalidFieldError(key, 'Parameter given more than once');
  }
  const type = params.get('type') ?? 'file';
  if (type !== 'file' && type !== 'all')
    throw new InvalidFieldError('type', "Only 'file' and 'all' are supported");
  const fileType = params.get('fileType') ?? 'all';
  if (fileType !== 'all' && fileType !== 'image' && fileType !== 'non-image') {
    throw new InvalidFieldError('fileType', "Expected 'all', 'image' or 'non-image'");
  }
  const sortName = params.get('sort') ?? 'ASC_CREATED';
  const sort = SORTS[sortName];
  if (!sort) throw new InvalidFieldError('sort', `Expected one of ${Object.keys(SORTS).join(', ')}`);
  const path = params.get('path');
  const name = params.get('name') ?? undefined;
  if (name !== undefined && (name.length > 255 || name.includes('/'))) {
    throw new InvalidFieldError('name', 'Expected a file name');
  }
  const search = params.has('searchQuery') ? parseSearchQuery(params.get('searchQuery')!) : {};
  return {
    folder: path === null ? undefined : safeFolder(path, 'path'),
    tags: search.tags ?? parseTags(params.get('tags') ?? undefined) ?? undefined,
    name: search.name ?? name,
    fileType,
    sort,
    skip: wholeNumber('skip', params.get('skip') ?? undefined, 0, 0, MAX_LIST_SCAN),
    limit: wholeNumber('limit', params.get('limit') ?? undefined, 1000, 1, 1000),
  };
}

function compare(a: FileRecord, b: FileRecord, by: ListQuery['sort']['by']): number {
  const key = (r: FileRecord) =>
    by === 'created' ? r.createdAt : by === 'updated' ? r.updatedAt : by === 'size' ? r.size : r.name;
  const [x, y] = [key(a), key(b)];
  return x < y ? -1 : x > y ? 1 : a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
}

/** The media library operations. */
export class MediaLibrary {
  readonly #deps: LibraryDeps;

  constructor(deps: LibraryDeps) {
    this.#deps = deps;
  }

  /** The stored path a file id names, which must exist; 404 otherwise. */
  async #existing(fileId: string): Promise<{ path: string; record: FileRecord }> {
    const path = pathOfFileId(fileId);
    if (!path) throw new NotFoundError('The requested file does not exist');
    let stat: Awaited<ReturnType<SourceReader['stat']>> | undefined;
    try {
      stat = await this.#deps.sources.stat(path);
    } catch (error) {
      if (error instanceof NotFoundError) throw new NotFoundError('The requested file does not exist');
      // A file over MAX_SOURCE_BYTES is still managed here, just never delivered.
      if (!(error instanceof PayloadTooLargeError)) throw error;
    }
    const record =
      (await this.#deps.files.get(path)) ??
      bareRecord(path, stat?.size ?? 0, stat?.version ?? '', stat?.lastModified);
    return { path, record };
  }

  /** Every listed file, or a 404 naming each missing id (bulk operations act on all or none). */
  async #existingAll(fileIds: readonly string[]): Promise<Array<{ path: string; record: FileRecord }>> {
    const found: Array<{ path: string; record: FileRecord }> = [];
    const missing: string[] = [];
    for (const id of fileIds) {
      try {
        found.push(await this.#existing(id));
      } catch (error) {
        if (error instanceof NotFoundError) missing.push(id);
        else throw error;
      }
    }
    if (missing.length > 0) throw new MissingFilesError(missing);
    return found;
  }

  async list(query: ListQuery, base: UrlBase): Promise<Array<Record<string, unknown>>> {
    const { writer, files } = this.#deps;
    const found: Array<{ path: string; size: number; lastModified?: Date }> = [];
    let cursor: string | undefined;
    do {
      const page = await writer.listObjects(query.folder ?? '', { cursor, limit: 1000 });
      for (const item of page.items) {
        const rest = query.folder ? item.path.slice(query.folder.length + 1) : item.path;
        if (query.folder !== undefined && rest.includes('/')) continue;
        const name = item.path.slice(item.path.lastIndexOf('/') + 1);
        if (query.name !== undefined && name !== query.name) continue;
        found.push(item);
      }
      cursor = page.cursor;
    } while (cursor && found.length < MAX_LIST_SCAN);
    const records: FileRecord[] = new Array(found.length);
    for (let at = 0; at < found.length; at += RECORD_READS_AT_ONCE) {
      await Promise.all(
        found.slice(at, at + RECORD_READS_AT_ONCE).map(async (item, offset) => {
          records[at + offset] =
            (await files.get(item.path)) ?? bareRecord(item.path, item.size, '', item.lastModified);
        }),
      );
    }
    const wanted = records.filter((record) => {
      if (query.fileType === 'image' && record.kind !== 'image') return false;
      if (query.fileType === 'non-image' && record.kind === 'image') return false;
      if (query.tags && !query.tags.some((tag) => record.tags?.includes(tag))) return false;
      return true;
    });
    wanted.sort((a, b) => compare(a, b, query.sort.by) * (query.sort.descending ? -1 : 1));
    return wanted.slice(query.skip, query.skip + query.limit).map((record) => fileObject(record, base));
  }

  async details(fileId: string, base: UrlBase): Promise<Record<string, unknown>> {
    return fileObject((await this.#existing(fileId)).record, base);
  }

  /** `PATCH /v1/files/{id}/details`: tags, customMetadata, description. */
  async update(fileId: string, body: unknown, base: UrlBase): Promise<Record<string, unknown>> {
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw new InvalidFieldError('body', 'Expected a JSON object');
    }
    const changes = body as Record<string, unknown>;
    for (const key of Object.keys(changes)) {
      if (!['tags', 'customMetadata', 'description'].includes(key)) {
        throw new InvalidFieldError(key, 'Only tags, customMetadata and description can be updated here');
      }
    }
    const { record } = await this.#existing(fileId);
    const next: FileRecord = { ...record, updatedAt: new Date().toISOString() };
    if ('tags' in changes) {
      const tags = changes.tags;
      if (tags !== null && (!Array.isArray(tags) || !tags.every((tag) => typeof tag === 'string'))) {
        throw new InvalidFieldError('tags', 'Expected a list of strings or null');
      }
      next.tags = tags === null ? null : parseTags((tags as string[]).join(','));
    }
    if ('customMetadata' in changes) next.customMetadata = parseCustomMetadata(changes.customMetadata);
    if ('description' in changes) {
      if (typeof changes.description !== 'string')
        throw new InvalidFieldError('description', 'Expected a string');
      next.description = parseDescription(changes.description);
    }
    await this.#deps.files.put(next);
    return fileObject(next, base);
  }

  /** Deletes the object, its record, and what this node remembers of it. */
  async delete(fileId: string): Promise<void> {
    const { path } = await this.#existing(fileId);
    await this.#remove(path);
  }

  async #remove(path: string): Promise<void> {
    await this.#deps.writer.delete(path);
    await this.#deps.files.delete(path);
    this.#deps.invalidator.forget(path);
    this.#deps.log.info({ path }, 'file deleted');
  }

  /** Deletes every listed file, or none when one is missing (404 naming the missing ids). */
  async bulkDelete(body: unknown): Promise<{ successfullyDeletedFileIds: string[] }> {
    const ids = (body as { fileIds?: unknown } | null)?.fileIds;
    if (
      !Array.isArray(ids) ||
      ids.length === 0 ||
      ids.length > MAX_BULK_IDS ||
      !ids.every((id) => typeof id === 'string')
    ) {
      throw new InvalidFieldError('fileIds', `Expected a list of 1 to ${MAX_BULK_IDS} file ids`);
    }
    const unique = [...new Set(ids as string[])];
    for (const { path } of await this.#existingAll(unique)) await this.#remove(path);
    return { successfullyDeletedFileIds: unique };
  }

  /**
   * `POST /v1/files/addTags` and `/removeTags` `{fileIds, tags}`: every file or none (a missing id
   * is a 404 naming it), each record rewritten once.
   */
  async changeTags(body: unknown, mode: 'add' | 'remove'): Promise<{ successfullyUpdatedFileIds: string[] }> {
    const { fileIds, tags } = (body ?? {}) as { fileIds?: unknown; tags?: unknown };
    if (!Array.isArray(fileIds) || fileIds.length === 0 || fileIds.length > MAX_BULK_IDS) {
      throw new InvalidFieldError('fileIds', `Expected a list of 1 to ${MAX_BULK_IDS} file ids`);
    }
    if (!Array.isArray(tags) || tags.length === 0 || !tags.every((tag) => typeof tag === 'string')) {
      throw new InvalidFieldError('tags', 'Expected a list of tags');
    }
    const wanted = parseTags((tags as string[]).join(',')) ?? [];
    const unique = [...new Set(fileIds.map(String))];
    const found = await this.#existingAll(unique);
    const now = new Date().toISOString();
    for (const { record } of found) {
      const current = record.tags ?? [];
      const next =
        mode === 'add'
          ? [...new Set([...current, ...wanted])]
          : current.filter((tag) => !wanted.includes(tag));
      await this.#deps.files.put({ ...record, tags: next.length > 0 ? next : null, updatedAt: now });
    }
    return { successfullyUpdatedFileIds: unique };
  }

  /** A stored path from ImageKit's `filePath` form (`/folder/a.mp4`); 404 when it names nothing valid. */
  #pathOf(field: string, raw: unknown): string {
    if (typeof raw !== 'string' || raw.trim() === '' || raw.length > 2048) {
      throw new InvalidFieldError(field, 'Expected a file path such as /folder/clip.mp4');
    }
    const segments = raw.split('/').filter(Boolean);
    return joinPath(
      safeFolder(segments.slice(0, -1).join('/'), field),
      safeFileName(segments.at(-1) ?? '', field),
    );
  }

  /**
   * Copies (or moves) a stored file and its record. The bytes stream from the origin back into it
   * through staging, so every writable origin can do it; a move then deletes the source.
   */
  async #transfer(
    from: string,
    to: string,
    options: { move: boolean; ifAbsent: boolean },
  ): Promise<FileRecord> {
    const { writer, files, invalidator, sources } = this.#deps;
    const { record } = await this.#existing(fileIdOf(from));
    if (from === to) return record;
    const written = await writer.put(to, await sources.open(from), {
      contentType: record.mime,
      ifAbsent: options.ifAbsent,
    });
    const now = new Date().toISOString();
    const copied: FileRecord = {
      ...record,
      fileId: fileIdOf(to),
      path: to,
      name: to.slice(to.lastIndexOf('/') + 1),
      size: written.size,
      version: written.version,
      versionNumber: 1,
      createdAt: now,
      updatedAt: now,
    };
    await files.put(copied);
    invalidator.forget(to);
    if (options.move) await this.#remove(from);
    return copied;
  }

  /** `POST /v1/files/copy {sourceFilePath, destinationPath}`: into the destination folder, same name. */
  async copy(body: unknown, move: boolean): Promise<void> {
    const { sourceFilePath, destinationPath, includeFileVersions, ...rest } = (body ?? {}) as Record<
      string,
      unknown
    >;
    const extra = Object.keys(rest)[0];
    if (extra) throw new InvalidFieldError(extra, 'Unknown field');
    if (includeFileVersions === true) {
      throw new InvalidFieldError('includeFileVersions', 'File versions are not kept by this server');
    }
    const from = this.#pathOf('sourceFilePath', sourceFilePath);
    if (typeof destinationPath !== 'string')
      throw new InvalidFieldError('destinationPath', 'Expected a folder path');
    const to = joinPath(
      safeFolder(destinationPath, 'destinationPath'),
      from.slice(from.lastIndexOf('/') + 1),
    );
    await this.#transfer(from, to, { move, ifAbsent: false });
  }

  /** `PUT /v1/files/rename {filePath, newFileName, purgeCache}`: a taken name is a 409. */
  async rename(body: unknown, base: UrlBase): Promise<{ purgeRequestId?: string }> {
    const { filePath, newFileName, purgeCache, ...rest } = (body ?? {}) as Record<string, unknown>;
    const extra = Object.keys(rest)[0];
    if (extra) throw new InvalidFieldError(extra, 'Unknown field');
    const from = this.#pathOf('filePath', filePath);
    if (typeof newFileName !== 'string') throw new InvalidFieldError('newFileName', 'Expected a file name');
    const folder = from.includes('/') ? from.slice(0, from.lastIndexOf('/')) : '';
    const to = joinPath(folder, safeFileName(newFileName, 'newFileName'));
    await this.#transfer(from, to, { move: true, ifAbsent: true });
    if (purgeCache !== true) return {};
    const { requestId } = await this.purge({ url: `${deliveryUrl(base, from)}*` }, base);
    return { purgeRequestId: requestId };
  }

  /** `GET /v1/files/{id}/metadata`: what the probe found. */
  async metadata(fileId: string): Promise<Record<string, unknown>> {
    const { path, record } = await this.#existing(fileId);
    if (record.kind === 'image' || record.kind === 'subtitle') {
      return {
        width: record.width ?? null,
        height: record.height ?? null,
        format: record.mime,
        size: record.size,
      };
    }
    const stat = await this.#deps.sources.stat(path);
    const { info } = await this.#deps.sources.facts(path, stat);
    return {
      width: info.video?.width ?? null,
      height: info.video?.height ?? null,
      duration: info.duration,
      bitRate: info.bitRate || null,
      videoCodec: info.video?.codec ?? null,
      audioCodec: info.audio?.codec ?? null,
      format: info.formatName,
      size: info.size,
      frameRate: info.video?.frameRate ?? null,
      rotation: info.video?.rotation ?? 0,
      audioChannels: info.audio?.channels ?? null,
      audioSampleRate: info.audio?.sampleRate ?? null,
      streamCount: info.streamCount,
    };
  }

  /**
   * `POST /v1/files/purge {url}`: forgets what this node remembers of the URL's source and tells
   * `PURGE_WEBHOOK_URL` (a CDN purge); the request's status is kept in the record store.
   */
  async purge(body: unknown, base: UrlBase): Promise<{ requestId: string }> {
    const raw = (body as { url?: unknown } | null)?.url;
    if (typeof raw !== 'string' || raw.length > 4096)
      throw new InvalidFieldError('url', 'Expected the URL to purge');
    let url: URL;
    try {
      url = new URL(raw, `${base.origin}/`);
    } catch {
      throw new InvalidFieldError('url', 'Expected an http(s) URL');
    }
    const wildcard = url.pathname.endsWith('*');
    let pathname = decodeURIComponent(url.pathname.replace(/\*$/, '')).replace(/^\/+/, '');
    if (base.basePath && pathname.startsWith(`${base.basePath.slice(1)}/`)) {
      pathname = pathname.slice(base.basePath.length);
    }
    const source = pathname
      .replace(/^tr:[^/]*\//, '')
      .split('/ik-')[0]!
      .replace(/\/+$/, '');
    if (source) this.#deps.invalidator.forget(source);
    const requestId = randomUUID();
    const key = `purges/${requestId}.json`;
    const { writer, purgeWebhook, fetcher, log } = this.#deps;
    const state = { url: url.toString(), wildcard, status: purgeWebhook ? 'Pending' : 'Completed' };
    await writer.records.put(key, Buffer.from(JSON.stringify(state)));
    if (purgeWebhook) {
      void fetcher
        .post(
          purgeWebhook,
          {
            type: 'cache.purge',
            requestId,
            url: state.url,
            wildcard,
            source: deliveryUrl(base, source),
          },
          this.#deps.webhookSecret,
        )
        .then(async (status) => {
          const outcome = status >= 200 && status < 300 ? 'Completed' : 'Failed';
          await writer.records.put(key, Buffer.from(JSON.stringify({ ...state, status: outcome })));
        })
        .catch((error: unknown) => log.warn({ err: error, requestId }, 'purge webhook failed'));
    }
    return { requestId };
  }

  /** `GET /v1/files/purge/{requestId}`: `Pending`, `Completed` or `Failed`. */
  async purgeStatus(requestId: string): Promise<{ status: string }> {
    if (!/^[0-9a-f-]{36}$/.test(requestId)) throw new NotFoundError('No such purge request');
    const bytes = await this.#deps.writer.records.get(`purges/${requestId}.json`);
    if (!bytes) throw new NotFoundError('No such purge request');
    return { status: (JSON.parse(bytes.toString('utf8')) as { status: string }).status };
  }
}

/** 404 for a bulk delete naming ids that do not exist (ImageKit's `missingFileIds`). */
export class MissingFilesError extends NotFoundError {
  readonly missingFileIds: string[];
  constructor(missing: string[]) {
    super('The requested file(s) do not exist');
    this.missingFileIds = missing;
  }
}
