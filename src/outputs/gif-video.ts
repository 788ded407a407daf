import { UnsupportedMediaError } from '../errors.js';
import type { StreamedKind } from './types.js';
import { videoKind } from './video.js';

/**
 * `/ik-gif-video.mp4`: an animated GIF delivered as a video (MP4/H.264 by default, `f-webm` for
 * WebM/VP9), resizable and trimmable like any video, with layers. It is the video output with
 * one rule more: the source must be a GIF (sniffed from its bytes), otherwise a 415.
 */
export const gifVideoKind: StreamedKind<'gif-video'> = {
  ...(videoKind as unknown as StreamedKind<'gif-video'>),
  name: 'gif-video',
  description: 'GIF videos (ik-gif-video.mp4)',
  plan(request, facts, inputs, settings) {
    if (facts.demuxer !== 'gif') {
      throw new UnsupportedMediaError(
        'ik-gif-video.mp4 turns an animated GIF into a video; this source is not a GIF',
      );
    }
    return videoKind.plan({ ...request, suffix: { kind: 'video' } }, facts, inputs, settings);
  },
};
