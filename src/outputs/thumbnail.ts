import { writeFile } from 'node:fs/promises';
import { InvalidParameterError, JobTimeoutError, RenderError, UnprocessableError } from '../errors.js';
import { stillLayerArgs } from '../layers/filters.js';
import { type PlannedLayer, visibleAt, withLayers } from '../layers/index.js';
import { frameArgs, splitFrameFilters } from '../media/argv.js';
import { FRAME_FILE_CODECS, frameMp4, pickFrame } from '../media/frame-index.js';
import { runToBuffer } from '../media/runner.js';
import { parsePpm, renderStill } from '../media/still.js';
import type { StillDecoder } from '../media/still-decoder.js';
import { planThumbnail } from '../plan/index.js';
import { IMAGE_FORMATS } from '../url/params.js';
import type { BufferedKind, IndexedFrames } from './types.js';

/** Keyframe intervals larger than this are read by ffmpeg through its own seek, not into memory. */
export const MAX_FRAME_FILE_BYTES = 32 * 1024 * 1024;

/**
 * The frame at `seconds` decoded from a frame file cut out of the source's index (see
 * `frameMp4`): one origin read of the keyframe interval, no probe, no seek, and an ffmpeg that
 * was started before the request. `undefined` when that path does not apply (no index, a codec
 * not on the list, a long interval) or its ffmpeg fails for any reason but a cancellation or a
 * timeout: the caller then asks ffmpeg to seek as before.
 */
async function frameFromIndex(
  frames: IndexedFrames | undefined,
  stills: StillDecoder | undefined,
  seconds: number,
  options: { timeoutMs: number; signal: AbortSignal },
): Promise<ReturnType<typeof parsePpm>> {
  if (!frames || !stills || !FRAME_FILE_CODECS.has(frames.index.sampleEntry)) return undefined;
  const pick = pickFrame(frames.index, seconds);
  // A long interval, or an index that points past the end of the file (a lying `stco`), is left
  // to ffmpeg's own reading and its errors.
  if (pick.end - pick.start > MAX_FRAME_FILE_BYTES || pick.end > frames.size) return undefined;
  // An origin failure is the answer (a 502, a 504): asking ffmpeg to read the same origin again
  // would only double the wait.
  const file = frameMp4(frames.index, pick, await frames.read(pick.start, pick.end));
  if (!file) return undefined;
  try {
    return parsePpm(await stills.decode(file, options));
  } catch (error) {
    if (options.signal.aborted || error instanceof JobTimeoutError) throw error;
    return undefined;
  }
}

/**
 * `/ik-thumbnail.jpg`: one still frame. ffmpeg seeks, decodes one frame and applies the leading
 * rotate/resize itself; sharp finishes the rest (crop, padding, border, radius) and encodes.
 */
export const thumbnailKind: BufferedKind<'thumbnail'> = {
  name: 'thumbnail',
  mode: 'buffered',
  description: 'thumbnails (ik-thumbnail.jpg)',
  accepts: ['w', 'h', 'ar', 'c', 'cm', 'fo', 'bg', 'b', 'r', 'rt', 'so', 'q', 'f'],
  layers: true,
  check(request) {
    const format = request.params.f;
    if (format !== undefined && !IMAGE_FORMATS.includes(format)) {
      throw new InvalidParameterError('f', `an image format (${IMAGE_FORMATS.join(', ')})`, format);
    }
  },
  identify: (request) => ({ canonical: request.canonical, variant: '' }),
  async produce({ request, facts, settings, job, frames }) {
    const plan = planThumbnail(request, facts.info, settings.limits);
    const { filters, rest: afterFilters } = splitFrameFilters(plan.ops);
    const {
      png: frame,
      raw,
      rest,
    } = await job('thumbnail', async (source, signal) => {
      const options = { timeoutMs: settings.jobTimeoutMs, signal };
      // From the index: the frame at its source size, so sharp does every geometry step.
      const indexed = await frameFromIndex(await frames?.(), settings.stills, plan.time, options);
      if (indexed) return { png: indexed.pixels, raw: indexed.raw, rest: plan.ops };
      let png = await runToBuffer(settings.ffmpegPath, frameArgs(source, plan.time, false, filters), options);
      // Seeking into the last frame interval can land past the final frame; take the last one then.
      if (png.length === 0 && plan.time > 0)
        png = await runToBuffer(settings.ffmpegPath, frameArgs(source, 0.5, true, filters), options);
      return { png, raw: undefined, rest: afterFilters };
    });
    if (frame.length === 0)
      throw new UnprocessableError(`No frame could be decoded at ${plan.time} s`, 'no_frame');
    const layers = request.params.layers;
    const still = {
      raw,
      ops: rest,
      format: plan.format,
      quality: plan.quality,
      maxInputPixels: settings.maxSourcePixels,
    };
    if (!layers) return { contentType: plan.contentType, body: await renderStill({ ...still, frame }) };
    // Layers go on the finished frame (a PNG, so rounded corners keep their alpha), at the
    // thumbnail's time on the timeline; then the result is encoded as asked.
    const base = await renderStill({ ...still, frame, format: 'png' });
    const frameSize = { width: plan.width, height: plan.height, duration: facts.info.duration ?? 0 };
    const graph = {
      input: '0:v',
      output: 'out',
      firstInput: 1,
      timeOffset: plan.time,
      format: 'rgba',
      still: true,
    };
    // A still shows the layers visible at its time (subtitles find their cue from the frame's time).
    const shown = (layer: PlannedLayer) => layer.kind === 'subtitles' || visibleAt(layer.window, plan.time);
    // The layers' inputs are fetched and decoded inside the job slot, so the job limit bounds that work too.
    const layered = await job('thumbnail', (_source, signal) =>
      withLayers(
        settings,
        layers,
        frameSize,
        graph,
        async (built) => {
          const file = `${built.dir}/frame.png`;
          await writeFile(file, base);
          return runToBuffer(settings.ffmpegPath, stillLayerArgs(file, built), {
            timeoutMs: settings.jobTimeoutMs,
            signal,
          });
        },
        shown,
      ),
    );
    if (layered.length === 0) throw new RenderError('Compositing the layers produced no frame');
    return {
      contentType: plan.contentType,
      body: await renderStill({ ...still, raw: undefined, ops: [], frame: layered }),
    };
  },
};
