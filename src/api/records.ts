/**
 * File metadata kept in the storage itself: one JSON record per stored file under the origin's
 * reserved folder (`.ik-proxy/records/files/<path>.json`), which no delivery route serves. Any
 * node reads the same records, so any node answers for any file.
 */
import { LRUCache } from 'lru-cache';
import type { OriginWriter } from '../origin/types.js';
import type { MetadataValue } from './fields.js';
import type { Inspection, UploadKind } from './inspect.js';
import { fileIdOf } from './names.js';

/** What is stored about a file (ImageKit's names where ImageKit has one). */
export interface FileRecord {
  fileId: string;
  name: string;
  /** The stored path without a leading `/` (answers add one, as ImageKit writes it). */
  path: string;
  kind: UploadKind;
  mime: string;
  size: number;
  width?: number;
  height?: number;
  duration?: number;
  videoCodec?: string;
  audioCodec?: string;
  bitRate?: number;
  tags: string[] | null;
  customMetadata: Record<string, MetadataValue>;
  description?: string;
  isPrivateFile: boolean;
  createdAt: string;
  updatedAt: string;
  /** The origin's version token of the stored bytes (a new one on overwrite). */
  version: string;
  /** ImageKit's version counter: 1 for a new file, +1 on each overwrite. */
  versionNumber: number;
}

/** A record for a file found in the origin without one (stored by other means). */
export function bareRecord(path: string, size: number, version: string, lastModified?: Date): FileRecord {
  const when = (lastModified ?? new Date(0)).toISOString();
  return {
    fileId: fileIdOf(path),
    name: path.slice(path.lastIndexOf('/') + 1),
    path,
    kind: 'video',
    mime: 'application/octet-stream',
    size,
    tags: null,
    customMetadata: {},
    isPrivateFile: false,
    createdAt: when,
    updatedAt: when,
    version,
    versionNumber: 1,
  };
}

/** The record of a new upload from what inspection found. */
export function newRecord(input: {
  path: string;
  size: number;
  version: string;
  inspection: Inspection;
  tags: string[] | null;
  customMetadata: Record<string, MetadataValue>;
  description: string | undefined;
  isPrivateFile: boolean;
  previous?: FileRecord;
  now: Date;
}): FileRecord {
  const { inspection } = input;
  return {
    fileId: fileIdOf(input.path),
    name: input.path.slice(input.path.lastIndexOf('/') + 1),
    path: input.path,
    kind: inspection.kind,
    mime: inspection.mime,
    size: input.size,
    width: inspection.width,
    height: inspection.height,
    duration: inspection.duration,
    videoCodec: inspection.videoCodec,
    audioCodec: inspection.audioCodec,
    bitRate: inspection.bitRate,
    tags: input.tags,
    customMetadata: input.customMetadata,
    description: input.description,
    isPrivateFile: input.isPrivateFile,
    createdAt: input.previous?.createdAt ?? input.now.toISOString(),
    updatedAt: input.now.toISOString(),
    version: input.version,
    versionNumber: (input.previous?.versionNumber ?? 0) + 1,
  };
}

/** Records keyed by stored path, in the writer's record store. */
export class FileRecords {
  readonly #writer: OriginWriter;

  constructor(writer: OriginWriter) {
    this.#writer = writer;
  }

  static keyOf(path: string): string {
    return `files/${path}.json`;
  }

  /** The record of `path`, or undefined (also for a record that does not parse). */
  async get(path: string): Promise<FileRecord | undefined> {
    const bytes = await this.#writer.records.get(FileRecords.keyOf(path));
    if (!bytes) return undefined;
    try {
      const record = JSON.parse(bytes.toString('utf8')) as FileRecord;
      return record.path === path ? record : undefined;
    } catch {
      return undefined;
    }
  }

  async put(record: FileRecord): Promise<void> {
    await this.#writer.records.put(FileRecords.keyOf(record.path), Buffer.from(JSON.stringify(record)));
  }

  async delete(path: string): Promise<void> {
    await this.#writer.records.delete(FileRecords.keyOf(path));
  }
}

/**
 * Which paths hold private files (`isPrivateFile`), asked by every delivery while the API is on.
 * Answers are remembered for `ttlMs` (`SOURCE_TTL`), so a delivery costs at most one record read
 * per source and period; this node learns of its own uploads and deletes at once, other nodes
 * within `ttlMs`.
 */
export class PrivateFiles {
  readonly #files: FileRecords;
  readonly #known: LRUCache<string, { private: boolean }>;

  constructor(files: FileRecords, ttlMs: number) {
    this.#files = files;
    this.#known = new LRUCache({ max: 50_000, ttl: Math.max(1, ttlMs) });
  }

  async isPrivate(path: string): Promise<boolean> {
    const known = this.#known.get(path);
    if (known) return known.private;
    const record = await this.#files.get(path).catch(() => undefined);
    const answer = record?.isPrivateFile === true;
    this.#known.set(path, { private: answer });
    return answer;
  }

  /** What this node just stored or deleted. */
  note(path: string, isPrivate: boolean | undefined): void {
    if (isPrivate === undefined) this.#known.delete(path);
    else this.#known.set(path, { private: isPrivate });
  }
}
