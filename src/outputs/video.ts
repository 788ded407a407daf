import { stat as fileStat, rm } from 'node:fs/promises';
import { BadRequestError, InvalidParameterError, RenderError } from '../errors.js';
import { withLayers } from '../layers/index.js';
import { remuxWithIndexArgs } from '../media/argv.js';
import { runToBuffer, startProcess } from '../media/runner.js';
import { createDurationStamp } from '../media/stream-duration/index.js';
import { lastVideoLabel, videoArgs } from '../media/video-argv.js';
import { chooseAutoFormat, planVideo } from '../plan/index.js';
import { IMAGE_FORMATS, PARAM_ORDER } from '../url/params.js';
import type { StreamedKind } from './types.js';

/**
 * The source, transformed (no suffix, or `/ik-video.mp4`). It streams while it encodes: an MP4
 * is fragmented and its streamed bytes are the cached bytes (the ETag is final from the first
 * byte); a WebM written to a pipe has no seek index, so it is remuxed with Cues before it is
 * cached and its streamed copy carries no ETag. Both carry the planned duration in their header
 * from the first byte (see `media/stream-duration/`).
 */
export const videoKind: StreamedKind<'video'> = {
  name: 'video',
  mode: 'streamed',
  description: 'video output',
  accepts: PARAM_ORDER.filter((key) => key !== 'sr'),
  layers: true,
  check(request) {
    if (request.params.layers && request.params.vc === 'none') {
      throw new BadRequestError('Layers need a picture; vc-none delivers audio only', 'l');
    }
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
        const layers = request.params.layers;
        if (!layers) return encodeWith(videoArgs(source, plan));
        const frame = { width: plan.width, height: plan.height, duration: plan.expectedSeconds };
        const graph = {
          input: lastVideoLabel(plan.ops),
          output: 'vl',
          firstInput: 1,
          timeOffset: 0,
          format: 'yuv420p',
        };
        return withLayers(settings, layers, frame, graph, (built) =>
          encodeWith(videoArgs(source, plan, 0, built)),
        );

        async function encodeWith(args: string[]): Promise<void> {
          const proc = startProcess(settings.ffmpegPath, args, {
            timeoutMs: settings.jobTimeoutMs,
            signal,
          });
          // ffmpeg cannot seek back in a pipe to write the length into the header, so a browser
          // would take the stream as growing (no seeking ahead); the plan knows the length, so the
          // header is stamped on its way out. Every byte is stamped before it is appended, so the
          // cached file is exactly what was streamed and an MP4's early ETag stays true.
          const stamp = createDurationStamp(plan.container, plan.expectedSeconds);
          let written = 0;
          const emit = async (pieces: Buffer[]) => {
            for (const piece of pieces) {
              written += piece.length;
              await append(piece);
            }
          };
          try {
            for await (const chunk of proc.stdout) await emit(stamp.push(chunk as Buffer));
            await emit(stamp.end());
          } catch (error) {
            proc.kill();
            await proc.done.catch(() => {});
            throw error;
          }
          await proc.done;
          if (written === 0) throw new RenderError('The encoder produced no output');
        }
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
