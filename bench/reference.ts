import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { probeArgs } from '../src/media/argv.js';
import type { MediaInfo } from '../src/media/types.js';
import { videoArgs } from '../src/media/video-argv.js';
import { type PlanLimits, planVideo } from '../src/plan/index.js';
import { parseRequestUrl } from '../src/url/request.js';
import type { TransformParams } from '../src/url/types.js';
import { probeMediaInfo } from '../test/support/ffprobe.js';

/**
 * The raw-ffmpeg references: the argv the product would build for a request, rebuilt by calling
 * the product's own pure planners and argv builders on a local copy of the source, so "the same
 * settings" cannot drift from what the proxy runs.
 */

/** The documented defaults of MAX_OUTPUT_PIXELS, MAX_SOURCE_DURATION, MAX_SOURCE_PIXELS, MAX_SOURCE_STREAMS. */
const DEFAULT_LIMITS: PlanLimits = {
  maxOutputPixels: 3840 * 2160,
  maxSourceDuration: 3 * 3600,
  maxSourcePixels: 4096 * 2304,
  maxSourceStreams: 16,
};

/** Probes a local file the way the proxy does and parses it with the product's parser. */
export const probeLocal: (file: string) => Promise<MediaInfo> = probeMediaInfo;

/**
 * Options of ffmpeg's http/tcp protocols: they only make sense for the loopback URL and are an
 * error ("Option ... not found") on a local file, so the local reference drops them with their value.
 */
const NETWORK_ONLY_OPTIONS = new Set([
  '-reconnect',
  '-reconnect_at_eof',
  '-reconnect_streamed',
  '-reconnect_on_network_error',
  '-reconnect_on_http_error',
  '-reconnect_delay_max',
  '-reconnect_max_retries',
  '-multiple_requests',
  '-seekable',
  '-user_agent',
  '-headers',
  '-icy',
  '-short_seek_size',
  '-chunked_post',
  '-send_expect_100',
  '-tcp_nodelay',
  '-listen_timeout',
  '-timeout',
]);

/**
 * Turns a product argv that reads the loopback endpoint and writes to stdout into one that reads
 * `input` from disk and writes `output`: the protocol allowlist admits `file`, network-only
 * protocol options are dropped, the input URL and `pipe:1` are swapped, and nothing else changes.
 */
export function localiseArgv(
  argv: readonly string[],
  placeholderUrl: string,
  input: string,
  output: string,
): string[] {
  const args: string[] = [];
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index]!;
    if (NETWORK_ONLY_OPTIONS.has(arg)) {
      index++;
      continue;
    }
    if (argv[index - 1] === '-protocol_whitelist') args.push('file');
    else if (arg === placeholderUrl) args.push(input);
    else if (arg === 'pipe:1') args.push(output);
    else args.push(arg);
  }
  return ['-y', ...args];
}

const PLACEHOLDER = 'http://127.0.0.1:1/s/bench';

function paramsOf(
  pathname: string,
  tr: string,
): { params: TransformParams; request: ReturnType<typeof parseRequestUrl> } {
  const request = parseRequestUrl(pathname, `tr=${encodeURIComponent(tr)}`, { named: {} });
  return { params: request.params, request };
}

/** The product's ffprobe argv (probeArgs) applied to a local file. */
export function probeReferenceArgs(input: string): string[] {
  return localiseArgv(probeArgs({ url: PLACEHOLDER, demuxer: 'mov' }), PLACEHOLDER, input, 'pipe:1').slice(1);
}

/** `ffmpeg -ss <t> -i local.mp4 -frames:v 1 -f image2 out.jpg`, the thumbnail reference of design §5. */
export function thumbnailReferenceArgs(input: string, seconds: number, output: string): string[] {
  return [
    '-hide_banner',
    '-loglevel',
    'error',
    '-nostdin',
    '-y',
    '-ss',
    String(seconds),
    '-i',
    input,
    '-frames:v',
    '1',
    '-f',
    'image2',
    output,
  ];
}

/** The product's transcode argv for `?tr=<tr>` (planVideo + videoArgs) applied to a local file. */
export async function transcodeReferenceArgs(input: string, tr: string, output: string): Promise<string[]> {
  const { request } = paramsOf('/source.mp4', tr);
  const info = await probeLocal(input);
  const plan = planVideo(request.params, info, DEFAULT_LIMITS, 'mp4');
  if (plan.kind !== 'video') throw new Error(`tr=${tr} does not plan a video transcode`);
  return localiseArgv(videoArgs({ url: PLACEHOLDER, demuxer: 'mov' }, plan), PLACEHOLDER, input, output);
}

/** How the segment reference was built: from the product's ABS code, or by hand when that is absent. */
export interface SegmentReference {
  args: string[];
  source: 'product' | 'hand-built';
}

interface AbsModules {
  planAbs(params: TransformParams, info: MediaInfo, segmentSeconds?: number): unknown;
  absVideoSegmentArgs(
    input: { url: string; demuxer: string },
    plan: unknown,
    height: number,
    index: number,
  ): { steps: string[][] };
}

async function loadAbsModules(repoRoot: string): Promise<AbsModules | undefined> {
  try {
    const plan = await import(pathToFileURL(path.join(repoRoot, 'src/abs/plan.ts')).href);
    const argv = await import(pathToFileURL(path.join(repoRoot, 'src/abs/argv.ts')).href);
    if (typeof plan.planAbs !== 'function' || typeof argv.absVideoSegmentArgs !== 'function')
      return undefined;
    return { planAbs: plan.planAbs, absVideoSegmentArgs: argv.absVideoSegmentArgs };
  } catch {
    return undefined;
  }
}

/**
 * Raw ffmpeg encoding video segment `index` of the `height` rendition (`segmentSeconds` long)
 * with the product's ABS settings. The ABS modules are being written while this bench exists,
 * so they are loaded at run time; without them the argv mirrors their documented settings
 * (veryfast, capped CRF 23 at the ladder rate, no B-frames, one IDR, fragmented MP4).
 */
export async function segmentReferenceArgs(
  repoRoot: string,
  input: string,
  height: number,
  index: number,
  segmentSeconds: number,
  output: string,
): Promise<SegmentReference> {
  const info = await probeLocal(input);
  const { params } = paramsOf('/source.mp4/ik-master.m3u8', `sr-${height}`);
  const abs = await loadAbsModules(repoRoot);
  if (abs) {
    try {
      const plan = abs.planAbs(params, info, segmentSeconds);
      const steps = abs.absVideoSegmentArgs({ url: PLACEHOLDER, demuxer: 'mov' }, plan, height, index).steps;
      if (steps.length === 1)
        return { args: localiseArgv(steps[0]!, PLACEHOLDER, input, output), source: 'product' };
    } catch {
      // fall through to the hand-built argv
    }
  }
  const video = info.video!;
  const width = Math.round((video.width * height) / video.height / 2) * 2;
  const fps = Math.round(video.frameRate) || 30;
  const frames = Math.round(fps * segmentSeconds);
  const ladder: Record<number, number> = {
    240: 200_000,
    360: 400_000,
    480: 800_000,
    720: 3_300_000,
    1080: 5_500_000,
  };
  const rate = String(ladder[height] ?? 3_300_000);
  const args = [
    ...[
      '-hide_banner',
      '-nostdin',
      '-loglevel',
      'error',
      '-y',
      '-ss',
      String(index * segmentSeconds),
      '-i',
      input,
    ],
    ...[
      '-map',
      '0:v:0',
      '-an',
      '-sn',
      '-dn',
      '-vf',
      `fps=${fps}:start_time=0,scale=${width}:${height}:flags=bicubic,setsar=1,format=yuv420p`,
    ],
    ...[
      '-frames:v',
      String(frames),
      '-c:v',
      'libx264',
      '-preset',
      'veryfast',
      '-profile:v',
      'high',
      '-crf',
      '23',
    ],
    ...[
      '-maxrate',
      rate,
      '-bufsize',
      rate,
      '-bf',
      '0',
      '-g',
      String(frames),
      '-keyint_min',
      String(frames),
      '-sc_threshold',
      '0',
    ],
    ...['-movflags', '+frag_keyframe+empty_moov+default_base_moof', '-f', 'mp4', output],
  ];
  return { args, source: 'hand-built' };
}
