import { LRUCache } from 'lru-cache';
import { OriginError, PayloadTooLargeError, ProxyError, UnsupportedMediaError } from '../errors.js';
import type { SourceInput } from '../media/argv.js';
import { probeArgs } from '../media/argv.js';
import { readVideoSampleIndex, type VideoSampleIndex } from '../media/frame-index.js';
import { locateMoov, MAX_MOOV_BYTES, parseMoov } from '../media/isobmff.js';
import { parseProbeOutput } from '../media/probe.js';
import { runToBuffer } from '../media/runner.js';
import { describeOriginal, type OriginalDescription, SNIFF_BYTES, sniffDemuxer } from '../media/sniff.js';
import type { MediaInfo } from '../media/types.js';
import type { ByteRange, Origin, SourceStat } from '../origin/types.js';
import type { Logger } from './logger.js';
import { SingleFlight } from './single-flight.js';
import type { SourceEndpoint, SourceGrant } from './source-endpoint.js';

/** Everything about a source the planners need, read once per source version. */
export interface SourceFacts {
  stat: SourceStat;
  /** The ffmpeg demuxer forced for this source (from the sniffed container). */
  demuxer: NonNullable<ReturnType<typeof sniffDemuxer>>;
  info: MediaInfo;
}

/** Memory for the sample tables of recently used MP4/MOV sources (about 25 bytes per sample). */
const FRAME_INDEX_CACHE_BYTES = 64 * 1024 * 1024;

/** Memory for recently read keyframe intervals (see `readInterval`). */
const INTERVAL_CACHE_BYTES = 64 * 1024 * 1024;

/** What `SourceReader` needs, resolved once by the composition root. */
export interface SourceReaderDeps {
  origin: Origin;
  endpoint: SourceEndpoint;
  log: Logger;
  ffprobePath: string;
  /** ffprobe is given at most this long (and never more than 30 s). */
  jobTimeoutMs: number;
  /** How long a source's stat is trusted before the origin is asked again. */
  sourceTtlMs: number;
  maxSourceBytes: number;
}

/**
 * The source side of every output: its stat (cached for `sourceTtlMs`, `MAX_SOURCE_BYTES`
 * enforced), its first bytes, its probe facts (cached per version, read in-process from an MP4
 * index when possible), and loopback access for ffmpeg through the source endpoint.
 */
export class SourceReader {
  readonly #deps: SourceReaderDeps;
  readonly #stats: LRUCache<string, SourceStat>;
  readonly #facts = new LRUCache<string, SourceFacts>({ max: 5000 });
  /**
   * Sources found unreadable, per version: a hostile or broken file costs one probe, not one per
   * request (every output kind of it gets the same 415 at once). Bounded in count and time.
   */
  readonly #unreadable = new LRUCache<string, UnsupportedMediaError>({ max: 5000, ttl: 10 * 60_000 });
  /** What each original is, per version: sniffed once, not on every range a player asks for. */
  readonly #originals = new LRUCache<string, OriginalDescription>({ max: 10_000 });
  /**
   * The video sample tables of MP4/MOV sources, per version, read from the same `moov` bytes as
   * their facts: stills are cut from them without ffmpeg probing or seeking (`frameMp4`).
   */
  readonly #frameIndexes = new LRUCache<string, VideoSampleIndex>({
    maxSize: FRAME_INDEX_CACHE_BYTES,
    sizeCalculation: (index) => Math.max(1, index.bytes),
  });
  /** Keyframe intervals read for stills, per version and range: the frames of one interval share it. */
  readonly #intervals = new LRUCache<string, Buffer>({
    maxSize: INTERVAL_CACHE_BYTES,
    sizeCalculation: (bytes) => Math.max(1, bytes.length),
  });
  readonly #intervalFlight = new SingleFlight<Buffer>();
  readonly #frameIndexFlight = new SingleFlight<VideoSampleIndex | undefined>();
  readonly #statFlight = new SingleFlight<SourceStat>();
  readonly #factsFlight = new SingleFlight<SourceFacts>();

  constructor(deps: SourceReaderDeps) {
    this.#deps = deps;
    this.#stats = new LRUCache<string, SourceStat>({ max: 10_000, ttl: Math.max(1, deps.sourceTtlMs) });
  }

  /** Size and identity of a source, cached for `sourceTtlMs`; enforces `MAX_SOURCE_BYTES`. */
  async stat(path: string): Promise<SourceStat> {
    const cached = this.#stats.get(path);
    const stat =
      cached ??
      (await this.#statFlight.run(path, async () => {
        const fresh = await this.#deps.origin.stat(path);
        this.#stats.set(path, fresh);
        return fresh;
      }));
    if (stat.size > this.#deps.maxSourceBytes) {
      throw new PayloadTooLargeError(
        `The source is ${stat.size} bytes; the limit is ${this.#deps.maxSourceBytes} bytes (MAX_SOURCE_BYTES)`,
      );
    }
    return stat;
  }

  /**
   * Drops what is remembered about `path` (its stat, and so every version-keyed fact), so the next
   * request asks the origin again: the upload API calls it after deleting or replacing a file.
   */
  forget(path: string): void {
    this.#stats.delete(path);
  }

  /** The source's first bytes (at most `SNIFF_BYTES`), enough to tell its container. */
  async head(path: string, stat: SourceStat): Promise<Buffer> {
    if (stat.size === 0) return Buffer.alloc(0);
    return this.#readRange(path, 0, Math.min(stat.size, SNIFF_BYTES) - 1);
  }

  /** How the original is served: its media type sniffed from its first bytes, once per version. */
  async describeOriginal(path: string, stat: SourceStat): Promise<OriginalDescription> {
    const id = `${path}\u0000${stat.version}`;
    const known = this.#originals.get(id);
    if (known) return known;
    const description = describeOriginal(await this.head(path, stat));
    this.#originals.set(id, description);
    return description;
  }

  /** Opens the source's bytes (all, or one range) for a response body. */
  open(path: string, range?: ByteRange) {
    return this.#deps.origin.read(path, range);
  }

  /** Probe facts for a source, cached per source version; a non-media source is a 415. */
  async facts(path: string, stat: SourceStat): Promise<SourceFacts> {
    const id = `${path}\u0000${stat.version}`;
    const cached = this.#facts.get(id);
    if (cached) return cached;
    const refused = this.#unreadable.get(id);
    if (refused) throw refused;
    return this.#factsFlight.run(id, async () => {
      try {
        return await this.#readFacts(path, stat, id);
      } catch (error) {
        if (error instanceof UnsupportedMediaError) this.#unreadable.set(id, error);
        throw error;
      }
    });
  }

  async #readFacts(path: string, stat: SourceStat, id: string): Promise<SourceFacts> {
    if (stat.size === 0) throw new UnsupportedMediaError(`'${path}' is empty`);
    const head = await this.head(path, stat);
    const demuxer = sniffDemuxer(head);
    if (!demuxer) {
      throw new UnsupportedMediaError(
        `'${path}' is not a video or audio file the proxy can read (unrecognised container)`,
      );
    }
    const indexed = demuxer === 'mov' ? await this.#readMp4Index(path, stat, head, id) : undefined;
    const info = indexed ?? (await this.#probe(path, stat, demuxer));
    if (!info.video && !info.audio) {
      throw new UnsupportedMediaError(`'${path}' has no video or audio stream`);
    }
    const facts = { stat, demuxer, info };
    this.#facts.set(id, facts);
    return facts;
  }

  async #probe(path: string, stat: SourceStat, demuxer: SourceFacts['demuxer']): Promise<MediaInfo> {
    return this.withSource(path, stat, demuxer, async (input) => {
      const json = await runToBuffer(this.#deps.ffprobePath, probeArgs(input), {
        timeoutMs: Math.min(this.#deps.jobTimeoutMs, 30_000),
      }).catch((error: unknown) => {
        // Only ffprobe's own refusal (it ran and exited non-zero) says the file is not media; a
        // probe that could not start, was cancelled or timed out stays a server-side failure.
        const exitCode = (error as { cause?: { code?: unknown } }).cause?.code;
        if (error instanceof ProxyError && error.code === 'render_failed' && typeof exitCode === 'number') {
          throw new UnsupportedMediaError(
            'The source could not be read as media; it may be corrupt or truncated',
            {
              cause: error,
            },
          );
        }
        throw error;
      });
      return parseProbeOutput(JSON.parse(json.toString('utf8')), stat.size);
    });
  }

  /**
   * MP4/MOV facts from the file's own index, read with one or two ranged origin reads and parsed
   * in-process: no ffprobe start (about 0.1 s) on the cold path. `undefined` sends the caller to
   * ffprobe (fragmented files, odd layouts, indexes larger than `MAX_MOOV_BYTES`, any surprise).
   */
  async #readMp4Index(
    path: string,
    stat: SourceStat,
    head: Buffer,
    id: string,
  ): Promise<MediaInfo | undefined> {
    try {
      const moov = await this.#readMoov(path, stat, head);
      const info = moov && parseMoov(moov, stat.size);
      const frames = moov && info?.video ? readVideoSampleIndex(moov) : undefined;
      if (frames) this.#frameIndexes.set(id, frames);
      return info;
    } catch (error) {
      this.#deps.log.debug({ err: error, path }, 'mp4 index not read; asking ffprobe');
      return undefined;
    }
  }

  /** The complete `moov` box of an MP4/MOV source, or `undefined` for a layout not read here. */
  async #readMoov(path: string, stat: SourceStat, head: Buffer): Promise<Buffer | undefined> {
    let found = locateMoov(head, 0, stat.size);
    for (let hops = 0; found && 'next' in found && hops < 8; hops++) {
      const at = found.next;
      if (at + 8 > stat.size) return undefined;
      const chunk = await this.#readRange(path, at, Math.min(stat.size, at + 64) - 1);
      found = locateMoov(chunk, at, stat.size);
    }
    if (!found || !('moov' in found) || found.moov.size > MAX_MOOV_BYTES) return undefined;
    const { offset, size } = found.moov;
    return offset + size <= head.length
      ? head.subarray(offset, offset + size)
      : this.#readRange(path, offset, offset + size - 1);
  }

  /**
   * The video sample table of an MP4/MOV source version (`undefined` for one it does not read).
   * Normally kept from reading the facts; read again when it has left memory, so whether a still
   * is cut from the index depends only on the source's bytes, never on what this node happened
   * to keep: the two ways give the same frame but not the same encoded bytes, and one cache key
   * (one ETag) must have one body on every node.
   */
  async frameIndex(
    path: string,
    stat: SourceStat,
    demuxer: SourceFacts['demuxer'],
  ): Promise<VideoSampleIndex | undefined> {
    const id = `${path}\u0000${stat.version}`;
    const cached = this.#frameIndexes.get(id);
    if (cached || demuxer !== 'mov') return cached;
    return this.#frameIndexFlight.run(id, async () => {
      const moov = await this.#readMoov(path, stat, await this.head(path, stat));
      const frames = moov && readVideoSampleIndex(moov);
      if (frames) this.#frameIndexes.set(id, frames);
      return frames;
    });
  }

  /**
   * Bytes `start` to `end` (exclusive) of a source version, read whole into memory and kept for
   * the next still from the same keyframe interval; concurrent readers share one origin read.
   */
  async readInterval(path: string, stat: SourceStat, start: number, end: number): Promise<Buffer> {
    const id = `${path}\u0000${stat.version}\u0000${start}\u0000${end}`;
    const cached = this.#intervals.get(id);
    if (cached) return cached;
    return this.#intervalFlight.run(id, async () => {
      const bytes = await this.#readRange(path, start, end - 1);
      if (bytes.length !== end - start)
        throw new OriginError(`The origin returned ${bytes.length} bytes for a ${end - start}-byte range`);
      this.#intervals.set(id, bytes);
      return bytes;
    });
  }

  async #readRange(path: string, start: number, end: number): Promise<Buffer> {
    const stream = await this.#deps.origin.read(path, { start, end });
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  /** Runs `work` with a loopback URL for the source and surfaces any origin failure behind it. */
  async withSource<T>(
    path: string,
    stat: SourceStat,
    demuxer: SourceFacts['demuxer'],
    work: (input: SourceInput) => Promise<T>,
  ): Promise<T> {
    const grant: SourceGrant = this.#deps.endpoint.grant(path, stat);
    const originFailure = () => {
      const failure = grant.failure();
      if (!failure) return undefined;
      return failure instanceof ProxyError
        ? failure
        : new OriginError('The origin failed while the source was read', { cause: failure });
    };
    try {
      const result = await work({ url: grant.url, demuxer });
      const failure = originFailure();
      if (failure) throw failure;
      return result;
    } catch (error) {
      throw originFailure() ?? error;
    } finally {
      grant.release();
    }
  }
}
