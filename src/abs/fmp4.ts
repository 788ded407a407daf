import { RenderError } from '../errors.js';
import { type Box, BoxReader } from '../media/boxes.js';

/**
 * Cuts an encoder's fragmented MP4 (CMAF) output into the init segment and the media segment.
 * Pure. The bytes are our own encoder's, so the box walk is strict: anything malformed is a
 * `RenderError` (a broken segment must fail the job, not be served).
 */

/** Top-level boxes a media segment may carry; anything else (e.g. the `mfra` index trailer) is dropped. */
const MEDIA_BOXES = new Set(['styp', 'sidx', 'prft', 'emsg', 'moof', 'mdat']);

/**
 * Cuts an encoder's fragmented MP4 into the init segment (`ftyp` + `moov`) and the media segment
 * (the `moof`/`mdat` pairs). Throws `RenderError` when the boxes do not tile the buffer or either
 * part is missing.
 */
export function splitInitAndMedia(buf: Buffer): { init: Buffer; media: Buffer } {
  const reader = new BoxReader(buf, { mode: 'strict', error: (message) => new RenderError(message) });
  const boxes = reader.children();
  const slice = (box: Box) => buf.subarray(box.offset, box.end);
  const init = boxes.filter((b) => b.type === 'ftyp' || b.type === 'moov');
  const media = boxes.filter((b) => MEDIA_BOXES.has(b.type));
  if (!init.some((b) => b.type === 'moov')) throw new RenderError('The encoder output has no moov box');
  if (!media.some((b) => b.type === 'moof'))
    throw new RenderError('The encoder output has no media fragment');
  return { init: Buffer.concat(init.map(slice)), media: Buffer.concat(media.map(slice)) };
}
