import { stat as fileStat, rm } from 'node:fs/promises';
import { InvalidParameterError, RenderError } from '../errors.js';
import { remuxWithIndexArgs } from '../media/argv.js';
import { runToBuffer, startProcess } from '../media/runner.js';
import { videoArgs } from '../media/video-argv.js';
import { chooseAutoFormat, planVideo } from '../plan/index.js';
import { IMAGE_FORMATS, PARAM_ORDER } from '../url/params.js';
import type { StreamedKind } from './types.js';

/**
 * The source, transformed (no suffix, or `/ik-video.mp4`). It streams while it encodes: an MP4
 * is fragmented and its streamed bytes are the cached bytes (the ETag is final from the first
 * byte); a WebM written to a pipe has no seek index, so it is remuxed with Cues before it is
 * cached and its streamed copy carries no ETag.
 */
export const videoKind: StreamedKind<'video'> = {
  name: 'video',
  mode: 'streamed',
  description: 'video output',
  accepts: PARAM_ORDER.filter((key) => key !== 'sr'),
  check(request) {
    const format = request.params.f;
    if (format !== undefined && IMAGE_FORMATS.includes(format)) {
      throw new InvalidParameterError('f', 'a video format (mp4, webm, auto, orig)', format);
    }
  },
  // `f-auto` is the only input besides `tr` that reaches the bytes: the format chosen for the client.
  identify: (request, inputs) => ({
    canonical: request.canonical,
    variant: request.params.f === 'auto' ? chooseAutoFormat(inputs.userAgent) : '',
  }),
  plan(request, facts, inputs, settings) {
    const plan = planVideo(request.params, facts.info, settings.limits, chooseAutoFormat(inputs.userAgent));
    return {
      contentType: plan.contentType,
      headers: request.params.f === 'auto' ? { vary: 'User-Agent' } : undefined,
      streamedIsFinal: plan.container === 'mp4',
      async encode(source, append, signal) {
        const proc = startProcess(settings.ffmpegPath, videoArgs(source, plan), {
          timeoutMs: settings.jobTimeoutMs,
          signal,
        });
        let written = 0;
        try {
          for await (const chunk of proc.stdout) {
            written += (chunk as Buffer).length;
            await append(chunk as Buffer);
          }
        } catch (error) {
          proc.kill();
          await proc.done.catch(() => {});
          throw error;
        }
        await proc.done;
        if (written === 0) throw new RenderError('The encoder produced no output');
      },
      finalize:
        plan.container === 'webm'
          ? async (file) => {
              // A WebM written to a pipe has no Cues (seek index); remuxing adds them in a second.
              const indexed = `${file}.webm`;
              await runToBuffer(settings.ffmpegPath, remuxWithIndexArgs(file, indexed, 'webm'), {
                timeoutMs: settings.jobTimeoutMs,
              });
              await fileStat(indexed);
              await rm(file, { force: true });
              return indexed;
            }
          : undefined,
    };
  },
};
