import { type Readable, Transform } from 'node:stream';
import { checkSourcePath } from './source-path.js';
import type { OriginWriter, PutOptions, WrittenObject } from './types.js';

/** A pass-through stream that counts the bytes it carries (`bytes`). */
export function countBytes(): Transform & { bytes: number } {
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      counter.bytes += chunk.length;
      callback(null, chunk);
    },
  }) as Transform & { bytes: number };
  counter.bytes = 0;
  return counter;
}

/**
 * `OriginWriter.put` for every adapter: the path is checked before any byte is stored, then the
 * body is staged and committed; a failed commit discards the staged copy.
 */
export async function putThroughStaging(
  writer: Pick<OriginWriter, 'stage' | 'commit' | 'discard'>,
  source: string,
  body: Readable,
  options: PutOptions & { ifAbsent?: boolean },
): Promise<WrittenObject> {
  checkSourcePath(source);
  const staged = await writer.stage(body, options);
  try {
    return await writer.commit(staged, source, options);
  } catch (error) {
    await writer.discard(staged);
    throw error;
  }
}
