/** The pure URL layer: `tr` grammar, request paths and suffixes, signatures. No I/O. */
export { evaluateExpression, parseExpression, serializeExpression } from './expression.js';
export {
  AUDIO_CODECS,
  CROP_MODES,
  CROP_MODES_EXTRA,
  FOCUS_VALUES,
  IMAGE_FORMATS,
  MAX_DIMENSION,
  OUTPUT_FORMATS,
  PARAM_ORDER,
  type ParamKey,
  STREAMING_HEIGHTS,
  VIDEO_CODECS,
} from './params.js';
export { type ParseRequestOptions, parseRequestUrl } from './request.js';
export { NO_EXPIRY, type SignatureOptions, signPath, verifySignature } from './signature.js';
export { matchSuffix } from './suffix.js';
export { parseTransformation, serializeParams } from './tr.js';
export type * from './types.js';
