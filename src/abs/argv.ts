import { BadRequestError } from '../errors.js';
import { inputArgs, type SourceInput } from '../media/argv.js';
import { AAC_FRAME_SAMPLES, type AbsPlan, AUDIO_TRACK_HEIGHT, renditionOf, segmentWindow } from './plan.js';

/**
 * Pure argv builders for one adaptive-streaming segment.
 *
 * Contract: `steps` run as a pipe chain — step k's stdout feeds step k+1's stdin, the first step
 * reads the source through `inputArgs`. The last step's stdout is a fragmented MP4
 * (ftyp + moov + moof + mdat ...). `splitInitAndMedia` (fmp4.ts) cuts it into the init segment
 * (identical for every segment of a track) and the media segment (`.m4s`), whose
 * baseMediaDecodeTime is already the segment's start on the track timescale.
 */
export interface AbsPipeline {
  steps: string[][];
}

/** Layers on a video segment: their inputs and a filter graph from `[lin]` to `[lout]`. */
export interface SegmentLayers {
  inputs: string[];
  graph: string;
}

/** x264 preset for segments: fast enough that one 4 s segment encodes well within real time. */
export const ABS_X264_PRESET = 'veryfast';
/** Constant-rate-factor ceiling under the ladder's maxrate (capped CRF). */
export const ABS_X264_CRF = 23;
/** Audio decoded before the segment start so the encoder is warmed up at the first kept frame. */
export const AUDIO_PREROLL_SAMPLES = 2 * AAC_FRAME_SAMPLES;

/**
 * Muxer options shared by audio and video: fragmented MP4 written to a pipe, with the caller's
 * timestamps kept. Without `-avoid_negative_ts disabled -use_editlist 0` the mp4 muxer shifts
 * the track to start at 0, which would give every segment tfdt 0.
 */
const FMP4_OUTPUT = [
  '-avoid_negative_ts',
  'disabled',
  '-use_editlist',
  '0',
  '-movflags',
  '+frag_keyframe+empty_moov+default_base_moof+frag_discont',
  '-fflags',
  '+bitexact',
  '-f',
  'mp4',
  'pipe:1',
];

/** Seconds with microsecond precision: ffmpeg parses durations in microseconds. */
function exactSeconds(value: number): string {
  return value.toFixed(6);
}

function rotationFilters(rotate: AbsPlan['rotate']): string[] {
  if (rotate === 90) return ['transpose=clock'];
  if (rotate === 270) return ['transpose=cclock'];
  if (rotate === 180) return ['hflip', 'vflip'];
  return [];
}

/**
 * One video segment of rendition `height`: exactly `segmentWindow(...).count` frames at the
 * plan's constant frame rate, a single IDR at the start and no other keyframe, no B-frames (so
 * decode time equals presentation time and the fragment's baseMediaDecodeTime is the segment
 * start exactly), timestamps offset to the segment's place on the output timeline.
 */
export function absVideoSegmentArgs(
  input: SourceInput,
  plan: AbsPlan,
  height: number,
  index: number,
  layers?: SegmentLayers,
): AbsPipeline {
  const rendition = renditionOf(plan, height);
  const window = segmentWindow(plan, height, index);
  const rate = `${plan.video.frameRate.num}/${plan.video.frameRate.den}`;
  const frame = [
    // CFR from the seek point: frame n of the segment is at n / rate, whatever the source's timing.
    `fps=${rate}:start_time=0`,
    // A video stream that ends before the container does still yields the planned frame count.
    'tpad=stop=-1:stop_mode=clone',
    ...rotationFilters(plan.rotate),
  ];
  const scale = [`scale=${rendition.width}:${rendition.height}:flags=bicubic`, 'setsar=1', 'format=yuv420p'];
  // Layers sit on the source-sized frame before the rendition's scale, so every rendition
  // carries them scaled with it.
  const video = layers
    ? [
        ...layers.inputs,
        '-filter_complex',
        `[0:v:0]${frame.join(',')}[lin];${layers.graph};[lout]${scale.join(',')}[vout]`,
        '-map',
        '[vout]',
      ]
    : ['-map', '0:v:0', '-vf', [...frame, ...scale].join(',')];
  const gop = String(plan.video.framesPerSegment);
  const step = [
    '-hide_banner',
    '-nostdin',
    '-loglevel',
    'error',
    ...inputArgs(input, plan.start + window.start),
    ...video,
    '-an',
    '-sn',
    '-dn',
    '-map_metadata',
    '-1',
    '-map_chapters',
    '-1',
    '-frames:v',
    String(window.count),
    '-c:v',
    'libx264',
    '-preset',
    ABS_X264_PRESET,
    '-profile:v',
    'high',
    '-level:v',
    rendition.level,
    '-crf',
    String(ABS_X264_CRF),
    '-maxrate',
    String(rendition.maxRate),
    '-bufsize',
    String(rendition.bufferSize),
    '-bf',
    '0',
    '-g',
    gop,
    '-keyint_min',
    gop,
    '-sc_threshold',
    '0',
    '-force_key_frames',
    'expr:eq(n,0)',
    '-video_track_timescale',
    String(plan.video.timescale),
    '-output_ts_offset',
    exactSeconds(window.start),
    ...FMP4_OUTPUT,
  ];
  return { steps: [step] };
}

/**
 * One audio segment: step 1 decodes from `AUDIO_PREROLL_SAMPLES` before the segment start to one
 * AAC frame past its end and encodes AAC into NUT; step 2 drops the encoder's priming frame and the
 * pre-roll frames, keeps exactly the segment's frames, and muxes them at the segment's start.
 * Every encode puts its frames on the same 1024-sample grid of the output timeline, and the kept
 * frames were encoded with real signal on both sides, so neighbours overlap-add cleanly.
 */
export function absAudioSegmentArgs(input: SourceInput, plan: AbsPlan, index: number): AbsPipeline {
  const window = segmentWindow(plan, AUDIO_TRACK_HEIGHT, index);
  const audio = plan.audio;
  if (!audio) throw new BadRequestError('The source has no audio track', 'suffix');
  const rate = audio.sampleRate;
  // Pre-roll only into audio that exists before the window start (none at the source's start).
  const available = Math.floor((plan.start * rate + window.first) / AAC_FRAME_SAMPLES) * AAC_FRAME_SAMPLES;
  const preroll = Math.min(AUDIO_PREROLL_SAMPLES, available);
  const exactSeek = plan.start + (window.first - preroll) / rate;
  // `inputArgs` seeks to whole milliseconds; seek to the millisecond at or before the exact
  // point and drop the remainder sample-exactly, so the encoder's frame grid is the output's.
  const seek = Math.max(0, Math.floor(exactSeek * 1000 + 1e-6) / 1000);
  const lead = Math.max(0, Math.round((exactSeek - seek) * rate));
  // One extra frame of real signal after the end: the last kept frame's window reaches into it.
  const decodeSamples = preroll + window.count + AAC_FRAME_SAMPLES;
  const filters = [
    `aresample=${rate}`,
    'aformat=sample_fmts=fltp:channel_layouts=stereo',
    // Count samples from the seek point, whatever timestamps the source carries.
    'asetpts=N/SR/TB',
    `atrim=start_sample=${lead}`,
    'asetpts=N/SR/TB',
    // Silence after the source's audio ends keeps every segment its planned length.
    'apad',
    `atrim=end_sample=${decodeSamples}`,
  ];
  const encode = [
    '-hide_banner',
    '-nostdin',
    '-loglevel',
    'error',
    ...inputArgs(input, seek),
    '-map',
    '0:a:0',
    '-vn',
    '-sn',
    '-dn',
    '-map_metadata',
    '-1',
    '-af',
    filters.join(','),
    '-c:a',
    'aac',
    '-b:a',
    String(audio.bitRate),
    '-ar',
    String(rate),
    '-ac',
    String(audio.channels),
    // NUT keeps the AudioSpecificConfig in its header, so the next step's moov (written before
    // any packet) carries it; ADTS would leave the esds without one and browsers could not decode.
    '-f',
    'nut',
    'pipe:1',
  ];
  // The CLI rebases step 1's timestamps to start at 0: packet i carries pts i*1024, and packet 0
  // is the encoder's priming frame.
  const skipFrames = preroll / AAC_FRAME_SAMPLES + 1;
  // Cut half a frame early so float rounding can never drop the first kept frame; the CLI
  // subtracts the cut time exactly, so the offset gives the half frame back.
  const cutSamples = skipFrames * AAC_FRAME_SAMPLES - AAC_FRAME_SAMPLES / 2;
  const remux = [
    '-hide_banner',
    '-nostdin',
    '-loglevel',
    'error',
    '-f',
    'nut',
    '-i',
    'pipe:0',
    '-map',
    '0:a:0',
    '-c:a',
    'copy',
    '-b:a',
    String(audio.bitRate),
    '-ss',
    exactSeconds(cutSamples / rate),
    '-frames:a',
    String(window.count / AAC_FRAME_SAMPLES),
    '-output_ts_offset',
    exactSeconds((window.first - AAC_FRAME_SAMPLES / 2) / rate),
    ...FMP4_OUTPUT,
  ];
  return { steps: [encode, remux] };
}

/** The pipeline for segment `index` of track `height` (0 = audio). */
export function absSegmentArgs(
  input: SourceInput,
  plan: AbsPlan,
  height: number,
  index: number,
): AbsPipeline {
  return height === AUDIO_TRACK_HEIGHT
    ? absAudioSegmentArgs(input, plan, index)
    : absVideoSegmentArgs(input, plan, height, index);
}

/**
 * The pipeline whose output carries a track's init segment at the lowest cost. Video: segment 0's
 * exact encoder settings cut to one frame, since the init (SPS/PPS, sample description) depends on
 * the settings, not on the pictures; so a player that switches rendition mid-stream waits for one
 * frame, not a whole extra segment. Audio segments are cheap: segment 0 as it is.
 */
export function absInitArgs(input: SourceInput, plan: AbsPlan, height: number): AbsPipeline {
  const pipeline = absSegmentArgs(input, plan, height, 0);
  if (height === AUDIO_TRACK_HEIGHT) return pipeline;
  const steps = pipeline.steps.map((step) => {
    const frames = step.indexOf('-frames:v');
    if (frames < 0) return step;
    const copy = [...step];
    copy[frames + 1] = '1';
    return copy;
  });
  return { steps };
}
