import type { GeometryOp } from '../plan/geometry.js';
import type { VideoPlan } from '../plan/video.js';
import { inputArgs, type SourceInput, seconds } from './argv.js';

/** x264 preset for on-the-fly transcodes: fast enough to stay ahead of a viewer on 2 cores. */
export const X264_PRESET = 'veryfast';
/** Fragment length for streamed mp4 output: small so the first bytes leave early. */
export const FRAGMENT_MICROSECONDS = 1_000_000;

/** ffmpeg filter expression for the alpha of a rounded rectangle of radius `r`. */
function roundedAlpha(r: number): string {
  const dx = `max(${r}-X\\,0)+max(X-(W-1-${r})\\,0)`;
  const dy = `max(${r}-Y\\,0)+max(Y-(H-1-${r})\\,0)`;
  return `if(gt(hypot(${dx}\\,${dy})\\,${r})\\,0\\,255)`;
}

/**
 * The video filter chain for planned geometry. Rotation metadata of the source is applied by
 * ffmpeg before this chain, as for stills; rounded corners composite the frame over a solid
 * colour through an alpha mask.
 */
export function videoFilterGraph(ops: readonly GeometryOp[]): string {
  const chain: string[] = [];
  let graph = '';
  let label = 0;
  const flush = () => {
    if (chain.length)
      graph +=
        (graph ? ';' : '') + `[${label === 0 ? '0:v:0' : `v${label}`}]${chain.join(',')}[v${label + 1}]`;
    if (chain.length) label++;
    chain.length = 0;
  };
  for (const op of ops) {
    switch (op.op) {
      case 'rotate':
        chain.push(
          op.degrees === 90 ? 'transpose=clock' : op.degrees === 270 ? 'transpose=cclock' : 'hflip,vflip',
        );
        break;
      case 'resize':
        chain.push(`scale=${op.width}:${op.height}:flags=bicubic`, 'setsar=1');
        break;
      case 'crop':
        chain.push(`crop=${op.width}:${op.height}:${op.x}:${op.y}`);
        break;
      case 'pad':
        chain.push(`pad=${op.width}:${op.height}:${op.x}:${op.y}:color=0x${op.color}`);
        break;
      case 'border':
        chain.push(`pad=iw+${op.width * 2}:ih+${op.width * 2}:${op.width}:${op.width}:color=0x${op.color}`);
        break;
      case 'round': {
        chain.push(
          'format=yuva420p',
          `geq=lum='p(X,Y)':cb='p(X,Y)':cr='p(X,Y)':a='${roundedAlpha(op.radius)}'`,
        );
        const input = label === 0 ? '0:v:0' : `v${label}`;
        graph += `${graph ? ';' : ''}[${input}]${chain.join(',')}[fg${label}];color=c=0x${op.color}:s=2x2[bg${label}];[bg${label}][fg${label}]scale2ref[bgs${label}][fgs${label}];[bgs${label}][fgs${label}]overlay=shortest=1:format=auto[v${label + 1}]`;
        label++;
        chain.length = 0;
        break;
      }
    }
  }
  chain.push('format=yuv420p');
  flush();
  return graph;
}

function videoEncoderArgs(plan: VideoPlan): string[] {
  switch (plan.videoCodec) {
    case 'h264':
      return [
        '-c:v',
        'libx264',
        '-preset',
        X264_PRESET,
        '-crf',
        String(plan.crf),
        '-profile:v',
        'high',
        '-g',
        '60',
        '-keyint_min',
        '30',
        '-sc_threshold',
        '0',
      ];
    case 'vp9':
      return [
        '-c:v',
        'libvpx-vp9',
        '-crf',
        String(plan.crf),
        '-b:v',
        '0',
        '-deadline',
        'realtime',
        '-cpu-used',
        '8',
        '-row-mt',
        '1',
        '-g',
        '60',
      ];
    case 'av1':
      return ['-c:v', 'libsvtav1', '-crf', String(plan.crf), '-preset', '10', '-g', '60'];
    case 'none':
      return ['-vn'];
  }
}

function audioEncoderArgs(plan: VideoPlan): string[] {
  switch (plan.audioCodec) {
    case 'aac':
      return ['-c:a', 'aac', '-b:a', '128k', '-ac', '2'];
    case 'opus':
      return ['-c:a', 'libopus', '-b:a', '96k', '-ac', '2', '-ar', '48000'];
    case 'none':
      return ['-an'];
  }
}

function muxerArgs(plan: VideoPlan): string[] {
  if (plan.container === 'mp4') {
    // Fragmented MP4 written strictly forward: the bytes streamed to the first viewer are the
    // bytes that get cached, so ETag and later Range requests agree with what was streamed.
    return [
      '-movflags',
      '+frag_keyframe+empty_moov+default_base_moof',
      '-frag_duration',
      String(FRAGMENT_MICROSECONDS),
      '-f',
      'mp4',
    ];
  }
  return ['-cluster_time_limit', '1000', '-f', 'webm'];
}

/** Layers on a video: their inputs, and a graph from `lastVideoLabel(ops)` to `[vl]`. */
export interface VideoLayers {
  inputs: string[];
  graph: string;
}

/** The label of the planned geometry's last output, where layers take the frame. */
export function lastVideoLabel(ops: readonly GeometryOp[]): string {
  return `v${countLabels(ops)}`;
}

/**
 * argv that encodes a planned video to stdout as a streamable mp4 or webm; `layers` (from
 * `layers/filters.ts`) are composited on the planned frame.
 */
export function videoArgs(input: SourceInput, plan: VideoPlan, threads = 0, layers?: VideoLayers): string[] {
  const args = ['-hide_banner', '-nostdin', '-loglevel', 'error', ...inputArgs(input, plan.start)];
  if (layers && plan.videoCodec !== 'none') args.push(...layers.inputs);
  if (plan.duration !== undefined) args.push('-t', seconds(plan.duration));
  if (plan.videoCodec !== 'none' && layers) {
    args.push('-filter_complex', `${videoFilterGraph(plan.ops)};${layers.graph}`, '-map', '[vl]');
  } else if (plan.videoCodec !== 'none') {
    args.push('-filter_complex', videoFilterGraph(plan.ops), '-map', `[v${countLabels(plan.ops)}]`);
  }
  if (plan.audioCodec !== 'none') args.push('-map', '0:a:0');
  args.push(...videoEncoderArgs(plan), ...audioEncoderArgs(plan));
  if (threads > 0) args.push('-threads', String(threads));
  args.push('-map_metadata', '-1', '-map_chapters', '-1', '-sn', '-dn', ...muxerArgs(plan), 'pipe:1');
  return args;
}

/** The label of the last filter output, as `videoFilterGraph` numbers them. */
function countLabels(ops: readonly GeometryOp[]): number {
  const graph = videoFilterGraph(ops);
  const labels = [...graph.matchAll(/\[v(\d+)\]/g)].map((m) => Number(m[1]));
  return Math.max(...labels);
}
