import { writeFile } from 'node:fs/promises';
import { InvalidParameterError, RenderError, UnprocessableError } from '../errors.js';
import { stillLayerArgs } from '../layers/filters.js';
import { type PlannedLayer, visibleAt, withLayers } from '../layers/index.js';
import { frameArgs, splitFrameFilters } from '../media/argv.js';
import { runToBuffer } from '../media/runner.js';
import { renderStill } from '../media/still.js';
import { planThumbnail } from '../plan/index.js';
import { IMAGE_FORMATS } from '../url/params.js';
import type { BufferedKind } from './types.js';

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
  async produce({ request, facts, settings, job }) {
    const plan = planThumbnail(request, facts.info, settings.limits);
    const { filters, rest } = splitFrameFilters(plan.ops);
    const frame = await job('thumbnail', async (source, signal) => {
      const options = { timeoutMs: settings.jobTimeoutMs, signal };
      let png = await runToBuffer(settings.ffmpegPath, frameArgs(source, plan.time, false, filters), options);
      // Seeking into the last frame interval can land past the final frame; take the last one then.
      if (png.length === 0 && plan.time > 0)
        png = await runToBuffer(settings.ffmpegPath, frameArgs(source, 0.5, true, filters), options);
      return png;
    });
    if (frame.length === 0)
      throw new UnprocessableError(`No frame could be decoded at ${plan.time} s`, 'no_frame');
    const layers = request.params.layers;
    const still = {
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
    return { contentType: plan.contentType, body: await renderStill({ ...still, ops: [], frame: layered }) };
  },
};
