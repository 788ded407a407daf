import { randomUUID } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import type { Logger } from '../render/service.js';

/** Paths polled by orchestrators and scrapers: logged at debug so they do not drown real traffic. */
const QUIET_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

/** Longest incoming request id we adopt; anything longer is replaced, never truncated. */
const MAX_REQUEST_ID_LENGTH = 128;

/**
 * The request id to use: the caller's `X-Request-Id` when it is a sane token (so ids from a CDN
 * or load balancer join up across logs), otherwise a fresh UUID. Sane means short printable
 * ASCII without spaces, so an id can never forge extra log fields or response headers.
 */
export function chooseRequestId(incoming: string | undefined, generate: () => string = randomUUID): string {
  const candidate = incoming?.trim();
  if (candidate && candidate.length <= MAX_REQUEST_ID_LENGTH && /^[\x21-\x7e]+$/.test(candidate))
    return candidate;
  return generate();
}

/** Appends one metric to a `Server-Timing` value that other layers may already have started. */
export function appendServerTiming(existing: string | null, name: string, milliseconds: number): string {
  const entry = `${name};dur=${milliseconds.toFixed(1)}`;
  return existing ? `${existing}, ${entry}` : entry;
}

function setHeaders(c: Context, values: Record<string, string>): void {
  const apply = (headers: Headers) => {
    for (const [name, value] of Object.entries(values)) headers.set(name, value);
  };
  try {
    apply(c.res.headers);
  } catch {
    // Some responses (Response.redirect, fetched ones) have immutable headers: Hono copies them
    // into a fresh response when `c.res` is assigned, and that one takes ours.
    c.res = new Response(c.res.body, c.res);
    apply(c.res.headers);
  }
}

/**
 * Hono middleware: gives every request an id (`X-Request-Id` in and out), adds
 * `Server-Timing: total;dur=<ms>` (time to the response head) and logs one JSON line per request
 * with the id, method, path, status and milliseconds. Mount it first so it wraps every route.
 */
export function requestLog(log: Logger): MiddlewareHandler {
  return async function logRequest(c, next) {
    const started = performance.now();
    const requestId = chooseRequestId(c.req.header('x-request-id'));
    c.set('requestId' as never, requestId as never);
    await next();
    const ms = performance.now() - started;
    setHeaders(c, {
      'X-Request-Id': requestId,
      'Server-Timing': appendServerTiming(c.res.headers.get('server-timing'), 'total', ms),
    });
    const path = c.req.path;
    const query = new URL(c.req.url).search;
    const line = {
      reqId: requestId,
      method: c.req.method,
      path,
      ...(query ? { query } : {}),
      status: c.res.status,
      ms: Math.round(ms * 10) / 10,
      cache: c.res.headers.get('x-cache') ?? undefined,
    };
    if (QUIET_PATHS.has(path)) log.debug(line, 'request');
    else log.info(line, 'request');
  };
}
