import { absKinds } from '../abs/outputs.js';
import { captionPlaylistKind, captionTrackKind } from '../captions/outputs.js';
import { BadRequestError } from '../errors.js';
import { seekTrackKind, spriteSheetKind } from '../seek/outputs.js';
import { PARAM_ORDER } from '../url/params.js';
import type { ProxyRequest } from '../url/types.js';
import { gifVideoKind } from './gif-video.js';
import { metadataKind } from './metadata.js';
import { originalKind, wantsOriginal } from './original.js';
import { thumbnailKind } from './thumbnail.js';
import type { MadeKind, OutputKind, OutputRegistry, RequestOf } from './types.js';
import { videoKind } from './video.js';

export { metadataDocument } from './metadata.js';
export { wantsOriginal } from './original.js';
export type * from './types.js';

/**
 * Every output the proxy makes, keyed by the suffix kind its URLs parse to. Adding an output
 * means adding a kind here (usually from its own feature folder); the render path does the rest.
 */
export const OUTPUT_KINDS: OutputRegistry = {
  video: videoKind,
  'gif-video': gifVideoKind,
  thumbnail: thumbnailKind,
  metadata: metadataKind,
  'seek-vtt': seekTrackKind,
  sprite: spriteSheetKind,
  ...absKinds,
  'caption-playlist': captionPlaylistKind,
  'caption-track': captionTrackKind,
};

/**
 * The kind that serves `request`, after checking its parameters against what that kind takes:
 * a kind's own checks first (they give the more specific message), then `accepts`. Pure; a
 * mismatch is a 400 naming the parameter, before anything reaches the origin.
 */
export function resolveOutputKind(request: ProxyRequest): OutputKind {
  const kind: OutputKind = wantsOriginal(request)
    ? originalKind
    : (OUTPUT_KINDS[request.suffix.kind] as MadeKind);
  kind.check?.(request as RequestOf<'video'>);
  if (request.params.layers && !kind.layers) {
    throw new BadRequestError(`Layers (l-...) are not supported for ${kind.description}`, 'l');
  }
  for (const key of PARAM_ORDER) {
    if (request.params[key] !== undefined && !kind.accepts.includes(key)) {
      throw new BadRequestError(`Parameter '${key}' is not supported for ${kind.description}`, key);
    }
  }
  return kind;
}
