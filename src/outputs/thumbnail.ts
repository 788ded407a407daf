import { InvalidParameterError, UnprocessableError } from '../errors.js';
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
    const body = await renderStill({
      frame,
      ops: rest,
      format: plan.format,
      quality: plan.quality,
      maxInputPixels: settings.maxSourcePixels,
    });
    return { contentType: plan.contentType, body };
  },
};
