import { BadRequestError, UnprocessableError } from '../errors.js';
import { spriteSheetArgs } from '../media/argv.js';
import { runToBuffer } from '../media/runner.js';
import type { BufferedKind } from '../outputs/types.js';
import { planSprites, seekThumbnailTrack } from './plan.js';

/**
 * `/ik-seek-thumbnail-track.vtt`: text from the probe alone. Its sheet URLs repeat the forwarded
 * query (`tr`, `ik-t`, `ik-s` as given), so the key covers exactly that query.
 */
export const seekTrackKind: BufferedKind<'seek-vtt'> = {
  name: 'seek-vtt',
  mode: 'buffered',
  description: 'seek thumbnail tracks',
  accepts: ['w', 'h'],
  identify: (request, inputs) => ({ canonical: request.canonical, variant: inputs.forwardedQuery }),
  async produce({ request, facts, inputs, settings }) {
    const plan = planSprites(request.params, facts.info, settings.limits);
    return {
      contentType: 'text/vtt; charset=utf-8',
      body: Buffer.from(seekThumbnailTrack(plan, inputs.forwardedQuery)),
    };
  },
};

/** `/ik-sprite-<n>.jpg`: one sheet of seek-preview tiles, one keyframe-only ffmpeg job. */
export const spriteSheetKind: BufferedKind<'sprite'> = {
  name: 'sprite',
  mode: 'buffered',
  description: 'sprite sheets',
  accepts: ['w', 'h'],
  identify: (request) => ({ canonical: request.canonical, variant: '' }),
  async produce({ request, facts, settings, job }) {
    const plan = planSprites(request.params, facts.info, settings.limits);
    const index = request.suffix.index;
    if (index >= plan.sheets) {
      throw new BadRequestError(
        `Sprite sheet ${index} does not exist; this track has ${plan.sheets}`,
        'suffix',
      );
    }
    const tilesPerSheet = plan.columns * plan.rows;
    const start = index * tilesPerSheet * plan.interval;
    // The last sheet is only as tall as its tiles need.
    const tiles = Math.min(tilesPerSheet, plan.count - index * tilesPerSheet);
    const rows = Math.ceil(tiles / plan.columns);
    const body = await job('sprite', (source, signal) =>
      runToBuffer(
        settings.ffmpegPath,
        spriteSheetArgs(source, { ...plan, rows, start, duration: tiles * plan.interval }),
        { timeoutMs: settings.jobTimeoutMs, signal },
      ),
    );
    if (body.length === 0)
      throw new UnprocessableError('No frames could be decoded for this sprite sheet', 'no_frame');
    return { contentType: 'image/jpeg', body };
  },
};
