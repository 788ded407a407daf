import type { Readable } from 'node:stream';
import { LRUCache } from 'lru-cache';
import { NotFoundError, PayloadTooLargeError } from '../errors.js';
import { readCapped } from '../layers/inputs.js';
import { type Cue, MAX_SUBTITLE_BYTES, parseSubtitles } from '../layers/subtitles.js';
import type { SourceListing, SourceStat } from '../origin/types.js';
import { type CaptionTrack, captionFiles, stemOf } from './names.js';

/** What the finder needs from the origin (through the source reader, so its limits apply). */
export interface CaptionOrigin {
  /** Absent when the origin cannot list (an HTTP origin): such sources have no caption tracks. */
  list?(dir: string, limit: number): Promise<SourceListing[]>;
  stat(path: string): Promise<SourceStat>;
  open(path: string): Promise<Readable>;
}

/** Entries of a folder looked at for captions; a busier folder may hide some of its captions. */
const LIST_LIMIT = 2000;

/**
 * Finds a source's caption files (`<stem>.<lang>.vtt|srt` beside it) and reads them as cues.
 * What a folder holds is remembered for `ttlMs`, like a source's stat, so manifests do not list
 * the folder on every request, nor once per source of a folder.
 */
export class CaptionFinder {
  readonly #origin: CaptionOrigin;
  readonly #found: LRUCache<string, CaptionTrack[]>;
  readonly #folders: LRUCache<string, string[]>;

  constructor(origin: CaptionOrigin, ttlMs: number) {
    this.#origin = origin;
    this.#found = new LRUCache({ max: 5000, ttl: Math.max(1, ttlMs) });
    // Bounded by size too: a folder may hold up to LIST_LIMIT caption-like names.
    this.#folders = new LRUCache({
      max: 1000,
      maxSize: 4_000_000,
      sizeCalculation: (paths) => 1 + paths.reduce((sum, path) => sum + path.length, 0),
      ttl: Math.max(1, ttlMs),
    });
  }

  /** The caption tracks of `sourcePath`, sorted by language (none when the origin cannot list). */
  async find(sourcePath: string): Promise<CaptionTrack[]> {
    const cached = this.#found.get(sourcePath);
    if (cached) return cached;
    const listing = await this.#folder(stemOf(sourcePath).dir);
    if (!listing) return [];
    const tracks: CaptionTrack[] = [];
    for (const file of captionFiles(sourcePath, listing)) {
      const stat = await this.#origin.stat(file.path).catch(() => undefined);
      if (stat) tracks.push({ ...file, version: `${stat.version}:${stat.size}` });
    }
    this.#found.set(sourcePath, tracks);
    return tracks;
  }

  /**
   * The caption-like files (`.vtt`, `.srt`) of a folder, listed once per TTL for every source in
   * it; undefined when the listing failed. Captions are extras: a listing that fails leaves the
   * stream without them (and is not remembered), never without its video.
   */
  async #folder(dir: string): Promise<string[] | undefined> {
    const known = this.#folders.get(dir);
    if (known) return known;
    const list = this.#origin.list?.bind(this.#origin);
    if (!list) return undefined;
    let listing: SourceListing[];
    try {
      listing = await list(dir, LIST_LIMIT);
    } catch (error) {
      if (!(error instanceof NotFoundError)) return undefined;
      listing = [];
    }
    const paths = listing.map((entry) => entry.path).filter((path) => /\.(?:vtt|srt)$/.test(path));
    this.#folders.set(dir, paths);
    return paths;
  }

  /** The cues of one track (a file over `MAX_SUBTITLE_BYTES` is a 413). */
  async read(track: CaptionTrack): Promise<Cue[]> {
    const where = `The ${track.lang} caption file`;
    const stat = await this.#origin.stat(track.path);
    if (stat.size > MAX_SUBTITLE_BYTES)
      throw new PayloadTooLargeError(`${where} is over ${MAX_SUBTITLE_BYTES} bytes`);
    const bytes = await readCapped(await this.#origin.open(track.path), MAX_SUBTITLE_BYTES, where);
    return parseSubtitles(bytes.toString('utf8'), where);
  }
}
