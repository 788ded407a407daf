import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import nodePath from 'node:path';
import type { Readable } from 'node:stream';
import sharp from 'sharp';
import { NotFoundError, PayloadTooLargeError, UnprocessableError, UnsupportedMediaError } from '../errors.js';
import type { SourceInput } from '../media/argv.js';
import type { Demuxer } from '../media/sniff.js';
import type { MediaInfo } from '../media/types.js';
import type { SourceStat } from '../origin/types.js';
import { checkSourceLimits } from '../plan/index.js';
import type { PlanLimits } from '../plan/types.js';
import { MAX_DIMENSION } from '../url/params.js';
import { describeLayer } from './grammar.js';
import {
  DEFAULT_FONT_SIZE,
  type LayerFrame,
  type ResolvedInput,
  type ResolvedInputs,
  textWrapWidth,
  wrapText,
} from './plan.js';
import { MAX_SUBTITLE_BYTES, parseSubtitles, toAss } from './subtitles.js';
import type { Layer } from './types.js';

/** How layer inputs reach the origin: the same reader (and limits) as sources. */
export interface LayerOrigin {
  stat(path: string): Promise<SourceStat>;
  open(path: string): Promise<Readable>;
  /** Probe facts of a video layer's file, as for a source (absent: video layers are refused). */
  facts?(path: string, stat: SourceStat): Promise<{ demuxer: Demuxer; info: MediaInfo }>;
  /** A loopback URL for a video layer's file while `work` runs, as for a source. */
  withSource?<T>(
    path: string,
    stat: SourceStat,
    demuxer: Demuxer,
    work: (input: SourceInput) => Promise<T>,
  ): Promise<T>;
}

/** Limits on layer inputs. */
export interface LayerInputLimits {
  /** Pixels an image layer may decode to (sharp's `limitInputPixels`; `MAX_SOURCE_PIXELS`). */
  maxPixels: number;
  /** Bytes an image layer may have. */
  maxImageBytes: number;
}

/** Image types a layer may be: sniffed from the bytes, whatever the name or the origin says. */
function sniffImage(head: Buffer): string | undefined {
  if (head.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'png';
  if (head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'jpeg';
  if (
    head.subarray(0, 6).toString('latin1') === 'GIF87a' ||
    head.subarray(0, 6).toString('latin1') === 'GIF89a'
  )
    return 'gif';
  if (head.subarray(0, 4).toString('latin1') === 'RIFF' && head.subarray(8, 12).toString('latin1') === 'WEBP')
    return 'webp';
  const tiff = head.subarray(0, 4).toString('latin1');
  if (tiff === 'II*\0' || tiff === 'MM\0*') return 'tiff';
  return undefined;
}

/** Every layer with its place (`1`, `1.2`...), depth first. */
function* walk(layers: readonly Layer[], parent = ''): Generator<{ layer: Layer; place: string }> {
  for (const [index, layer] of layers.entries()) {
    const place = parent ? `${parent}.${index + 1}` : String(index + 1);
    yield { layer, place };
    yield* walk(layer.layers ?? [], place);
  }
}

/**
 * Reads a whole stream of at most `limit` bytes (a file may have grown since its stat said it was
 * small); past that it is destroyed and the read is a 413 saying "`what` is over `limit` bytes".
 */
export async function readCapped(stream: Readable, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      stream.destroy();
      throw new PayloadTooLargeError(`${what} is over ${limit} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/**
 * Layer inputs read from the origin through the source reader (so the same adapter, SSRF guard,
 * path rules and byte limits apply). `versions` gives what the cache key needs; `materialize`
 * writes each input to a private folder as a file ffmpeg reads: images re-encoded to PNG by sharp
 * after sniffing and a pixel check, texts as UTF-8 files, subtitles as an ASS script the proxy
 * writes itself.
 */
export class LayerInputs {
  readonly #origin: LayerOrigin;
  readonly #limits: LayerInputLimits;

  constructor(origin: LayerOrigin, limits: LayerInputLimits) {
    this.#origin = origin;
    this.#limits = limits;
  }

  async #stat(path: string, where: string): Promise<SourceStat> {
    try {
      return await this.#origin.stat(path);
    } catch (error) {
      // The public message names the layer, not the origin path.
      if (error instanceof NotFoundError) throw new NotFoundError(`The input of ${where} was not found`);
      if (error instanceof PayloadTooLargeError)
        throw new PayloadTooLargeError(`The input of ${where} is too large`);
      throw error;
    }
  }

  /**
   * The versions of every file input, as one string for the cache key. A missing input is a 404
   * naming the layer (type and place in the chain).
   */
  async versions(layers: readonly Layer[]): Promise<string> {
    const parts: string[] = [];
    for (const { layer, place } of walk(layers)) {
      if (layer.input.kind !== 'path') continue;
      const stat = await this.#stat(layer.input.path, describeLayer(layer.type, place));
      parts.push(`${place}=${stat.version}:${stat.size}`);
    }
    return parts.join(';');
  }

  async #read(path: string, where: string, limit: number): Promise<Buffer> {
    const stat = await this.#stat(path, where);
    if (stat.size > limit) throw new PayloadTooLargeError(`The input of ${where} is over ${limit} bytes`);
    return readCapped(await this.#origin.open(path), limit, `The input of ${where}`);
  }

  async #image(path: string, where: string, file: string): Promise<ResolvedInput> {
    const bytes = await this.#read(path, where, this.#limits.maxImageBytes);
    if (!sniffImage(bytes)) {
      throw new UnsupportedMediaError(`The input of ${where} is not a PNG, JPEG, WebP, GIF or TIFF image`);
    }
    const header = await sharp(bytes)
      .metadata()
      .catch((error: unknown) => {
        throw new UnsupportedMediaError(`The input of ${where} could not be decoded as an image`, {
          cause: error,
        });
      });
    const [width, height] = [header.width ?? 0, header.height ?? 0];
    if (width > MAX_DIMENSION || height > MAX_DIMENSION) {
      throw new UnprocessableError(
        `The input of ${where} is ${width}x${height} pixels; a layer image may be at most ${MAX_DIMENSION} pixels on a side`,
        'layer_too_large',
      );
    }
    try {
      const image = sharp(bytes, { limitInputPixels: this.#limits.maxPixels, failOn: 'error' });
      const { data, info } = await image.rotate().ensureAlpha().png({ compressionLevel: 1 }).toBuffer({
        resolveWithObject: true,
      });
      await writeFile(file, data);
      return { kind: 'image', file, width: info.width, height: info.height };
    } catch (error) {
      if (error instanceof Error && /pixel limit/i.test(error.message)) {
        throw new UnprocessableError(
          `The input of ${where} has more than ${this.#limits.maxPixels} pixels (MAX_SOURCE_PIXELS)`,
          'layer_too_large',
        );
      }
      throw new UnsupportedMediaError(`The input of ${where} could not be decoded as an image`, {
        cause: error,
      });
    }
  }

  /**
   * Runs `work` with every video layer's file reachable by ffmpeg (a loopback URL of the source
   * endpoint, like a source): each is probed and held to the source limits first, so a video
   * layer costs no more than a source may. The map is keyed by the layer's place.
   */
  async withVideos<T>(
    layers: readonly Layer[],
    limits: PlanLimits,
    work: (videos: Map<string, ResolvedInput>) => Promise<T>,
  ): Promise<T> {
    const videos = [...walk(layers)].filter(({ layer }) => layer.type === 'video');
    const resolved = new Map<string, ResolvedInput>();
    const origin = this.#origin;
    const next = async (index: number): Promise<T> => {
      const entry = videos[index];
      if (!entry) return work(resolved);
      const { layer, place } = entry;
      const where = describeLayer('video', place);
      if (layer.input.kind !== 'path' || !origin.facts || !origin.withSource) {
        throw new UnsupportedMediaError(`${where} cannot be read on this deployment`);
      }
      const path = layer.input.path;
      const stat = await this.#stat(path, where);
      const facts = await origin.facts(path, stat).catch((error: unknown) => {
        if (error instanceof UnsupportedMediaError)
          throw new UnsupportedMediaError(`The input of ${where} is not a video`);
        throw error;
      });
      checkSourceLimits(facts.info, limits);
      const video = facts.info.video;
      if (!video) throw new UnsupportedMediaError(`The input of ${where} has no video stream`);
      return origin.withSource(path, stat, facts.demuxer, (input) => {
        resolved.set(place, { kind: 'video', input, width: video.width, height: video.height });
        return next(index + 1);
      });
    };
    return next(0);
  }

  /**
   * Writes every input of `layers` into `dir` (which the caller owns and removes). `frame` is the
   * size subtitles are laid out for.
   */
  async materialize(layers: readonly Layer[], frame: LayerFrame, dir: string): Promise<ResolvedInputs> {
    const resolved = new Map<string, ResolvedInput>();
    for (const { layer, place } of walk(layers)) {
      const where = describeLayer(layer.type, place);
      const file = nodePath.join(dir, `layer-${place.replace(/\./g, '-')}`);
      if (layer.input.kind === 'text') {
        await writeFile(`${file}.txt`, layer.input.text, 'utf8');
        const width = textWrapWidth(layer, frame, place);
        if (width === undefined) {
          resolved.set(place, { kind: 'text', file: `${file}.txt` });
          continue;
        }
        // A text with a width is laid out line by line: each line is its own file.
        const lines: string[] = [];
        for (const [index, line] of wrapText(
          layer.input.text,
          width,
          layer.fs ?? DEFAULT_FONT_SIZE,
        ).entries()) {
          lines.push(`${file}-line${index}.txt`);
          await writeFile(`${file}-line${index}.txt`, line, 'utf8');
        }
        resolved.set(place, { kind: 'text', file: `${file}.txt`, lines });
      } else if (layer.input.kind === 'path' && layer.type === 'image') {
        resolved.set(place, await this.#image(layer.input.path, where, `${file}.png`));
      } else if (layer.input.kind === 'path' && layer.type === 'subtitles') {
        const bytes = await this.#read(layer.input.path, where, MAX_SUBTITLE_BYTES);
        const cues = parseSubtitles(bytes.toString('utf8'), `The input of ${where}`);
        await writeFile(`${file}.ass`, toAss(cues, layer, frame.width, frame.height), 'utf8');
        resolved.set(place, { kind: 'subtitles', file: `${file}.ass` });
      }
    }
    return resolved;
  }
}

/**
 * Runs `work` with a private temporary folder for layer inputs, removed afterwards whatever
 * happens. The folder name is the system's (`mkdtemp`), so it is safe in a filter graph.
 */
export async function withLayerFolder<T>(work: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(nodePath.join(os.tmpdir(), 'ikvp-layers-'));
  try {
    return await work(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
