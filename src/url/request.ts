import { BadRequestError } from '../errors.js';
import { matchSuffix } from './suffix.js';
import { parseTransformation, serializeParams } from './tr.js';
import type { NamedTransformations, ProxyRequest } from './types.js';
import { clip } from './validators.js';

/** Options for `parseRequestUrl`. */
export interface ParseRequestOptions {
  /** Named transformations from configuration, for `n-NAME`. */
  named: NamedTransformations;
}

/** Paths this long are not real sources; refusing them early bounds the work. */
const MAX_PATH_LENGTH = 4096;
const PATH_FORM_PREFIX = 'tr:';

function decodeSegment(raw: string): string {
  let segment: string;
  try {
    segment = decodeURIComponent(raw);
  } catch {
    throw new BadRequestError(`Malformed percent-encoding in path segment '${clip(raw)}'`, 'path');
  }
  // Defence in depth: the origin adapters check again, but no segment that could climb out of
  // the origin root, hide a separator, or truncate a C string ever leaves this layer.
  if (segment === '' || segment === '.' || segment === '..') {
    throw new BadRequestError('Path contains an empty, "." or ".." segment', 'path');
  }
  if (/[/\\\0]/.test(segment)) {
    throw new BadRequestError('Path segments may not contain "/", "\\" or NUL, even percent-encoded', 'path');
  }
  return segment;
}

/**
 * Turns a request's path (as the server received it, starting with `/`, still percent-encoded)
 * and query into a validated `ProxyRequest`. Accepts the query form `/a/b.mp4?tr=w-300` and the
 * path form `/tr:w-300/a/b.mp4`. Unknown query parameters (cache busters) are ignored and never
 * reach the canonical string; `ik-s`/`ik-t` are returned for signature checking.
 *
 * @example parseRequestUrl('/videos/a.mp4/ik-thumbnail.jpg', 'tr=so-5,w-300', { named: {} })
 * @throws BadRequestError (400) naming the parameter or path part at fault.
 */
export function parseRequestUrl(
  pathname: string,
  search: URLSearchParams | string,
  options: ParseRequestOptions,
): ProxyRequest {
  if (!pathname.startsWith('/')) throw new BadRequestError('Request path must start with "/"', 'path');
  if (pathname.length > MAX_PATH_LENGTH) {
    throw new BadRequestError(`Request path is longer than ${MAX_PATH_LENGTH} characters`, 'path');
  }
  const query = typeof search === 'string' ? new URLSearchParams(search) : search;
  const segments = pathname.slice(1).split('/').map(decodeSegment);

  let tr: string | undefined;
  if (segments[0]?.startsWith(PATH_FORM_PREFIX)) {
    tr = segments.shift()!.slice(PATH_FORM_PREFIX.length);
    if (tr === '') throw new BadRequestError('Empty transformation in the path ("tr:")', 'tr');
    if (query.has('tr')) {
      throw new BadRequestError(
        'Give the transformation in the path (tr:) or the query (?tr=), not both',
        'tr',
      );
    }
  } else {
    const values = query.getAll('tr');
    if (values.length > 1) throw new BadRequestError('The tr query parameter is given more than once', 'tr');
    tr = values[0];
  }

  const { suffix, segments: suffixLength } = matchSuffix(segments);
  const sourceSegments = segments.slice(0, segments.length - suffixLength);
  // `/ik-video.mp4` names sources without an extension and may sit before another suffix.
  if (suffixLength > 0 && suffix.kind !== 'video' && sourceSegments.at(-1) === 'ik-video.mp4') {
    sourceSegments.pop();
  }
  if (sourceSegments.length === 0) throw new BadRequestError('The URL names no source file', 'path');
  if (/^[A-Za-z]:$/.test(sourceSegments[0]!)) {
    throw new BadRequestError('Source paths may not start with a drive letter', 'path');
  }

  const params = parseTransformation(tr ?? '', options.named);

  const signatureValue = query.get('ik-s');
  const expiry = query.get('ik-t');
  const request: ProxyRequest = {
    sourcePath: sourceSegments.join('/'),
    suffix,
    params,
    canonical: serializeParams(params),
  };
  if (signatureValue !== null) {
    request.signature = expiry === null ? { s: signatureValue } : { s: signatureValue, t: expiry };
  }
  return request;
}
