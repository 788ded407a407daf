import sharp from 'sharp';
import { describe, expect, test } from 'vitest';
import { mediaInfo } from '../../test/support/media-info.js';
import { absKinds } from '../abs/outputs.js';
import { NotFoundError } from '../errors.js';
import type { SourceInput } from '../media/argv.js';
import { thumbnailKind } from '../outputs/thumbnail.js';
import type { OutputSettings } from '../outputs/types.js';
import { parseRequestUrl } from '../url/index.js';
import { LayerInputs } from './inputs.js';

/**
 * A layer's inputs are read and decoded inside the job slot (as for a video output), so the job
 * limit bounds that work: many segments or posters with layers at once cannot decode their
 * images all together outside it.
 */
describe('layer inputs are fetched inside the job slot', () => {
  const source: SourceInput = { url: 'http://127.0.0.1:9/none', demuxer: 'mov' };
  const facts = {
    stat: { size: 1000, version: 'v1' },
    demuxer: 'mov' as const,
    info: mediaInfo({ width: 640, height: 360, duration: 20 }),
  };

  function setup() {
    const seen: boolean[] = [];
    let inside = 0;
    const layerInputs = new LayerInputs(
      {
        stat: async () => {
          seen.push(inside > 0);
          throw new NotFoundError('gone');
        },
        open: async () => {
          throw new Error('not reached');
        },
      },
      { maxPixels: 1e7, maxImageBytes: 1e6 },
    );
    const settings: OutputSettings = {
      limits: { maxOutputPixels: 1e7, maxSourceDuration: 3600, maxSourcePixels: 1e7, maxSourceStreams: 10 },
      segmentSeconds: 4,
      maxSourcePixels: 1e7,
      ffmpegPath: 'ffmpeg',
      jobTimeoutMs: 10_000,
      layerInputs,
    };
    const job = async <T>(
      _label: string,
      work: (input: SourceInput, signal: AbortSignal) => Promise<T>,
    ): Promise<T> => {
      inside++;
      try {
        return await work(source, new AbortController().signal);
      } finally {
        inside--;
      }
    };
    return { seen, settings, job };
  }

  type Job = ReturnType<typeof setup>['job'];

  /** What `produce` gets: the request parsed from `path`, the fake facts, settings and job. */
  function context(path: string, settings: OutputSettings, job: Job) {
    const request = parseRequestUrl(path, tr, { named: {} });
    return {
      request: request as never,
      facts,
      inputs: { forwardedQuery: '' },
      settings,
      job,
      storeSibling() {},
    };
  }

  const tr = 'tr=l-image,i-logo.png,l-end';

  test('an HLS segment', async () => {
    const { seen, settings, job } = setup();
    const produce = absKinds['abs-segment'].produce(context('/a.mp4/ik-abs/360/seg-2.m4s', settings, job));
    await expect(produce).rejects.toThrow(/image layer #1 was not found/);
    expect(seen).toEqual([true]);
  });

  test('a thumbnail', async () => {
    const { seen, settings, job: inSlot } = setup();
    const frame = await sharp({
      create: { width: 640, height: 360, channels: 3, background: { r: 0, g: 0, b: 255 } },
    })
      .png()
      .toBuffer();
    let calls = 0;
    // The first job grabs the frame: stand in for ffmpeg with a blue PNG (no geometry left to do).
    const job = <T>(label: string, work: (input: SourceInput, signal: AbortSignal) => Promise<T>) =>
      calls++ === 0 ? Promise.resolve({ png: frame, raw: undefined, rest: [] } as T) : inSlot(label, work);
    const produce = thumbnailKind.produce(context('/a.mp4/ik-thumbnail.jpg', settings, job));
    await expect(produce).rejects.toThrow(/image layer #1 was not found/);
    expect(seen).toEqual([true]);
  });
});
