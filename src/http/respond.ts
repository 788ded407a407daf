import type { Readable } from 'node:stream';
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

/** True when an `If-None-Match` list names `etag` (weak comparison, as RFC 9110 asks for it). */
export function etagListMatches(header: string, etag: string): boolean {
  if (header.trim() === '*') return true;
  const bare = etag.replace(/^W\//, '');
  return header.split(',').some((candidate) => candidate.trim().replace(/^W\//, '') === bare);
}

function notModified(request: ConditionalRequest, body: ServableBody): boolean {
  if (request.ifNoneMatch !== undefined) return etagListMatches(request.ifNoneMatch, body.etag);
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

/**
 * What to send: status, headers as a plain object (cheap to build and to write), and a body in
 * memory or a stream to open. The route turns it into a response; a stream can then be piped
 * straight into the socket instead of through a web stream.
 */
export interface Answer {
  status: number;
  headers: Record<string, string>;
  body?: Buffer;
  stream?: () => Promise<Readable>;
}

/**
 * Answers GET or HEAD for a complete body: strong ETag, Last-Modified, 304 on a matching
 * `If-None-Match`, 206 for a single satisfiable range, 416 otherwise. Throws
 * `RangeNotSatisfiableError` so the error mapper renders it.
 */
export function answerWithBody(
  request: ConditionalRequest,
  body: ServableBody,
  extraHeaders: Record<string, string>,
): Answer {
  const headers: Record<string, string> = { ...extraHeaders, ETag: body.etag, 'Accept-Ranges': 'bytes' };
  if (body.lastModified !== undefined) headers['Last-Modified'] = new Date(body.lastModified).toUTCString();
  if (notModified(request, body)) return { status: 304, headers };
  headers['Content-Type'] = body.contentType;
  const head = request.method === 'HEAD';
  let range: ByteRange | undefined;
  if (rangeApplies(request, body)) {
    const parsed = parseRangeHeader(request.range, body.size);
    if (parsed === 'unsatisfiable') throw new RangeNotSatisfiableError(body.size);
    range = parsed;
  }
  if (range) {
    const part = range;
    headers['Content-Range'] = `bytes ${part.start}-${part.end}/${body.size}`;
    headers['Content-Length'] = String(part.end - part.start + 1);
    if (head) return { status: 206, headers };
    if (body.body) return { status: 206, headers, body: body.body.subarray(part.start, part.end + 1) };
    return { status: 206, headers, stream: () => body.open(part) };
  }
  headers['Content-Length'] = String(body.size);
  if (head || body.size === 0) return { status: 200, headers };
  if (body.body) return { status: 200, headers, body: body.body };
  return { status: 200, headers, stream: () => body.open() };
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
export function errorResponse(
  error: ProxyError,
  head = false,
  extraHeaders: Record<string, string> = {},
): Response {
  const headers: Record<string, string> = {
    ...extraHeaders,
    ...error.headers,
    'Content-Type': 'application/json; charset=utf-8',
    'Cache-Control': 'no-store',
  };
  const payload = JSON.stringify({ error: { code: error.code, message: error.message } });
  return new Response(head ? null : payload, { status: error.status, headers });
}
