import { Readable } from 'node:stream';
import type { CacheMeta } from '../cache/types.js';
import { type ProxyError, RangeNotSatisfiableError } from '../errors.js';
import type { ByteRange } from '../origin/types.js';
import { parseRangeHeader } from './range.js';

/** What `respondWithBody` needs to answer GET/HEAD with validators and ranges. */
export interface ServableBody {
  contentType: string;
  size: number;
  etag: string;
  lastModified?: number;
  /** The whole body when it is in memory (fast path: no stream). */
  body?: Buffer;
  open(range?: ByteRange): Promise<Readable>;
}

/** Request facts that decide between 200, 206, 304 and 416. */
export interface ConditionalRequest {
  method: string;
  ifNoneMatch?: string;
  ifModifiedSince?: string;
  ifRange?: string;
  range?: string;
}

function etagMatches(header: string, etag: string): boolean {
  if (header.trim() === '*') return true;
  const bare = etag.replace(/^W\//, '');
  return header.split(',').some((candidate) => candidate.trim().replace(/^W\//, '') === bare);
}

function notModified(request: ConditionalRequest, body: ServableBody): boolean {
  if (request.ifNoneMatch !== undefined) return etagMatches(request.ifNoneMatch, body.etag);
  if (request.ifModifiedSince && body.lastModified !== undefined) {
    const since = Date.parse(request.ifModifiedSince);
    return Number.isFinite(since) && Math.floor(body.lastModified / 1000) * 1000 <= since;
  }
  return false;
}

function rangeApplies(request: ConditionalRequest, body: ServableBody): boolean {
  if (!request.range) return false;
  if (!request.ifRange) return true;
  // If-Range with an ETag must match exactly (strong); with a date, the body must be no newer.
  if (request.ifRange.startsWith('"') || request.ifRange.startsWith('W/'))
    return request.ifRange === body.etag;
  const date = Date.parse(request.ifRange);
  return (
    body.lastModified !== undefined &&
    Number.isFinite(date) &&
    Math.floor(body.lastModified / 1000) * 1000 <= date
  );
}

function streamBody(stream: Readable): ReadableStream {
  return Readable.toWeb(stream) as unknown as ReadableStream;
}

/**
 * Answers GET or HEAD for a complete body: strong ETag, Last-Modified, 304 on a matching
 * `If-None-Match`, 206 for a single satisfiable range, 416 otherwise. Throws
 * `RangeNotSatisfiableError` so the error mapper renders it.
 */
export async function respondWithBody(
  request: ConditionalRequest,
  body: ServableBody,
  extraHeaders: Record<string, string>,
): Promise<Response> {
  const headers = new Headers(extraHeaders);
  headers.set('ETag', body.etag);
  headers.set('Accept-Ranges', 'bytes');
  if (body.lastModified !== undefined)
    headers.set('Last-Modified', new Date(body.lastModified).toUTCString());
  if (notModified(request, body)) return new Response(null, { status: 304, headers });
  headers.set('Content-Type', body.contentType);
  const head = request.method === 'HEAD';
  let range: ByteRange | undefined;
  if (rangeApplies(request, body)) {
    const parsed = parseRangeHeader(request.range, body.size);
    if (parsed === 'unsatisfiable') throw new RangeNotSatisfiableError(body.size);
    range = parsed;
  }
  if (range) {
    headers.set('Content-Range', `bytes ${range.start}-${range.end}/${body.size}`);
    headers.set('Content-Length', String(range.end - range.start + 1));
    if (head) return new Response(null, { status: 206, headers });
    const payload = body.body
      ? body.body.subarray(range.start, range.end + 1)
      : streamBody(await body.open(range));
    return new Response(payload, { status: 206, headers });
  }
  headers.set('Content-Length', String(body.size));
  if (head) return new Response(null, { status: 200, headers });
  if (body.size === 0) return new Response(null, { status: 200, headers });
  return new Response(body.body ?? streamBody(await body.open()), { status: 200, headers });
}

/** Converts cache metadata into a servable body description. */
export function servableFromMeta(meta: CacheMeta, open: ServableBody['open'], body?: Buffer): ServableBody {
  return {
    contentType: meta.contentType,
    size: meta.size,
    etag: meta.etag,
    lastModified: meta.lastModified,
    body,
    open,
  };
}

/** The JSON error document every failure is rendered as (`Cache-Control: no-store`). */
export function errorResponse(error: ProxyError, head = false): Response {
  const headers = new Headers(error.headers);
  headers.set('Content-Type', 'application/json; charset=utf-8');
  headers.set('Cache-Control', 'no-store');
  const payload = JSON.stringify({ error: { code: error.code, message: error.message } });
  return new Response(head ? null : payload, { status: error.status, headers });
}
