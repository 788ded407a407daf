/**
 * Pre transformations (`transformation.pre`): the upload is transformed before it is stored, with
 * the same video output a viewer's `?tr=` would get (the same planner, argv and limits), in a job
 * slot of the render limiter. The result replaces the staged upload; the original is discarded.
 */
import { createReadStream } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ProxyError } from '../errors.js';
import type { OriginWriter, StagedObject } from '../origin/types.js';
import type { OutputSettings, RequestOf } from '../outputs/types.js';
import { videoKind } from '../outputs/video.js';
import type { JobLimiter } from '../render/limiter.js';
import type { SourceReader } from '../render/sources.js';
import { parseRequestUrl } from '../url/request.js';
import type { NamedTransformations, ProxyRequest } from '../url/types.js';
import { InvalidFieldError } from './errors.js';

/** What a pre transformation runs with. */
export interface PreDeps {
  writer: OriginWriter;
  /** The source reader over staged uploads. */
  staged: SourceReader;
  limiter: JobLimiter;
  /** The delivery settings, layers left out (a pre transformation takes none). */
  settings: OutputSettings;
  named: NamedTransformations;
}

/** Pure: the video request a `pre` value names; a 400 naming `transformation.pre` otherwise. */
export function preRequest(pre: string, named: NamedTransformations): ProxyRequest {
  let request: ProxyRequest;
  try {
    request = parseRequestUrl('/upload.mp4', `tr=${encodeURIComponent(pre)}`, { named });
    for (const key of Object.keys(request.params)) {
      if (key === 'layers')
        throw new InvalidFieldError('transformation.pre', 'Layers are not allowed before storing');
      if (!(videoKind.accepts as readonly string[]).includes(key)) {
        throw new InvalidFieldError('transformation.pre', `'${key}' is not a video transformation parameter`);
      }
    }
    videoKind.check?.(request as RequestOf<'video'>);
  } catch (error) {
    if (error instanceof InvalidFieldError) throw error;
    if (error instanceof ProxyError && error.status === 400)
      throw new InvalidFieldError('transformation.pre', error.message);
    throw error;
  }
  return request;
}

/** Transforms a staged upload; resolves with the new staged object (the caller discards the old). */
export async function applyPre(
  deps: PreDeps,
  staged: StagedObject,
  request: ProxyRequest,
): Promise<StagedObject> {
  const stat = await deps.writer.staged.stat(staged.id);
  const facts = await deps.staged.facts(staged.id, stat);
  const output = videoKind.plan(request as RequestOf<'video'>, facts, { forwardedQuery: '' }, deps.settings);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ikvp-pre-'));
  try {
    let file = path.join(dir, 'out');
    const handle = await open(file, 'w');
    try {
      await deps.limiter.run((signal) =>
        deps.staged.withSource(staged.id, stat, facts.demuxer, (input) =>
          output.encode(input, async (chunk) => void (await handle.write(chunk)), signal),
        ),
      );
    } finally {
      await handle.close();
    }
    if (output.finalize) file = await output.finalize(file);
    return await deps.writer.stage(createReadStream(file), { contentType: output.contentType });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
