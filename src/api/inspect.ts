/**
 * What an upload is, decided from its bytes before it becomes visible: a video or audio file the
 * proxy can deliver (sniffed, probed, within the source limits), an image or a subtitle file (for
 * layers and captions). Anything else, a playlist disguised as a video included, is refused.
 */
import { pipeline } from 'node:stream/promises';
import sharp, { type Metadata } from 'sharp';
import { PayloadTooLargeError, UnprocessableError, UnsupportedMediaError } from '../errors.js';
import { SNIFF_BYTES, sniffDemuxer } from '../media/sniff.js';
import type { MediaInfo } from '../media/types.js';
import type { Origin } from '../origin/types.js';
import { checkSourceLimits, type PlanLimits } from '../plan/index.js';
import type { SourceReader } from '../render/sources.js';

/** The kinds of file the API stores. */
export type UploadKind = 'video' | 'audio' | 'image' | 'subtitle';

/** What the inspection found. */
export interface Inspection {
  kind: UploadKind;
  mime: string;
  width?: number;
  height?: number;
  /** Seconds (video and audio). */
  duration?: number;
  videoCodec?: string;
  audioCodec?: string;
  /** Bits per second. */
  bitRate?: number;
  info?: MediaInfo;
}

const IMAGE_MIME: Record<string, string> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  gif: 'image/gif',
  webp: 'image/webp',
  avif: 'image/avif',
  heif: 'image/heif',
};

/** `image` when the first bytes are JPEG, PNG, GIF or WebP/AVIF/HEIF; undefined otherwise. Pure. */
export function sniffImage(head: Buffer): string | undefined {
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'jpeg';
  if (head.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'png';
  const ascii = head.subarray(0, 12).toString('latin1');
  if (ascii.startsWith('GIF87a') || ascii.startsWith('GIF89a')) return 'gif';
  if (ascii.startsWith('RIFF') && ascii.slice(8, 12) === 'WEBP') return 'webp';
  if (ascii.slice(4, 8) === 'ftyp' && /^(avif|avis)$/.test(ascii.slice(8, 12))) return 'avif';
  if (ascii.slice(4, 8) === 'ftyp' && /^(heic|heix|mif1)$/.test(ascii.slice(8, 12))) return 'heif';
  return undefined;
}

/**
 * `vtt` or `srt` when the first bytes are a WebVTT or SubRip file; `playlist` for an HLS/DASH
 * manifest or other text the demuxers would follow (refused); undefined for anything else. Pure.
 */
export function sniffText(head: Buffer): 'vtt' | 'srt' | 'playlist' | undefined {
  const text = head.toString('utf8').replace(/^\uFEFF/, '');
  if (/#EXTM3U|#EXT-X-|<MPD[\s>]|ffconcat|^\s*file\s+'/i.test(text)) return 'playlist';
  if (head.includes(0)) return undefined;
  if (/^WEBVTT(?:[ \t\r\n]|$)/.test(text)) return 'vtt';
  if (/^\s*\d+\r?\n\d{1,2}:\d{2}:\d{2}[,.]\d{3}\s+-->\s+\d{1,2}:\d{2}:\d{2}[,.]\d{3}/.test(text))
    return 'srt';
  return undefined;
}

/** The most bytes a subtitle file may have. */
const MAX_SUBTITLE_BYTES = 10 * 1024 * 1024;

/** What `inspectUpload` reads with. */
export interface InspectDeps {
  /** Read access to staged uploads by id. */
  staged: Origin;
  /** A source reader over `staged` (probe facts, sniffing, loopback access for ffprobe). */
  sources: SourceReader;
  limits: PlanLimits;
}

/**
 * Inspects a staged upload. Throws `UnsupportedMediaError` (415) for anything that is not media,
 * an image or a subtitle file, `PayloadTooLargeError` (413) or `UnprocessableError` (422) over a
 * limit.
 */
export async function inspectUpload(deps: InspectDeps, id: string): Promise<Inspection> {
  const stat = await deps.staged.stat(id);
  if (stat.size === 0) throw new UnsupportedMediaError('The uploaded file is empty');
  const head = await readHead(deps.staged, id, Math.min(stat.size, SNIFF_BYTES));
  const text = sniffText(head);
  if (text === 'playlist') {
    throw new UnsupportedMediaError('The upload is a playlist or script, not a media file; it is refused');
  }
  if (sniffDemuxer(head)) {
    const { info } = await deps.sources.facts(id, stat);
    checkSourceLimits(info, deps.limits);
    const video = info.video;
    return {
      kind: video ? 'video' : 'audio',
      mime: (await deps.sources.describeOriginal(id, stat)).contentType,
      width: video?.width,
      height: video?.height,
      duration: info.duration,
      videoCodec: video?.codec,
      audioCodec: info.audio?.codec,
      bitRate: info.bitRate || undefined,
      info,
    };
  }
  const image = sniffImage(head);
  if (image) {
    const probe = sharp({ limitInputPixels: deps.limits.maxSourcePixels, failOn: 'error' });
    const metadata = pipeline(await deps.staged.read(id), probe).catch(() => undefined);
    let meta: Metadata;
    try {
      meta = await probe.metadata();
    } catch (error) {
      const message = String((error as Error).message ?? '');
      if (/pixel limit/i.test(message)) {
        throw new UnprocessableError(
          `The image is larger than ${deps.limits.maxSourcePixels} pixels (MAX_SOURCE_PIXELS)`,
          'source_too_many_pixels',
        );
      }
      throw new UnsupportedMediaError('The image could not be read; it may be corrupt', { cause: error });
    } finally {
      probe.destroy();
      await metadata;
    }
    if ((meta.width ?? 0) * (meta.height ?? 0) > deps.limits.maxSourcePixels) {
      throw new UnprocessableError(
        `The image is ${meta.width}x${meta.height}; the limit is ${deps.limits.maxSourcePixels} pixels (MAX_SOURCE_PIXELS)`,
        'source_too_many_pixels',
      );
    }
    return {
      kind: 'image',
      mime: IMAGE_MIME[image] ?? 'application/octet-stream',
      width: meta.width,
      height: meta.height,
    };
  }
  if (text === 'vtt' || text === 'srt') {
    if (stat.size > MAX_SUBTITLE_BYTES) {
      throw new PayloadTooLargeError(`A subtitle file may be at most ${MAX_SUBTITLE_BYTES} bytes`);
    }
    return { kind: 'subtitle', mime: text === 'vtt' ? 'text/vtt' : 'application/x-subrip' };
  }
  throw new UnsupportedMediaError(
    'The upload is not a video, audio, image or subtitle file the proxy accepts (unrecognised content)',
  );
}

async function readHead(origin: Origin, id: string, length: number): Promise<Buffer> {
  const stream = await origin.read(id, { start: 0, end: length - 1 });
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
