import { randomUUID } from 'node:crypto';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
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

/** Headers every response carries so players on other origins (hls.js, dash.js) can read it. */
export const CORS_HEADERS: Readonly<Record<string, string>> = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Expose-Headers':
    'Content-Length, Content-Range, Accept-Ranges, ETag, Cache-Status, X-Cache',
};

interface RequestState {
  id: string;
  started: number;
  /** True once the route put our headers into its response itself (the fast path). */
  decorated: boolean;
  /** Set by the route when the response object does not tell (a stream piped to the socket). */
  status?: number;
  cache?: string;
}

const STATE = 'requestState';

function stateOf(c: Context): RequestState | undefined {
  return c.get(STATE as never) as RequestState | undefined;
}

/**
 * `X-Request-Id` and `Server-Timing` (the given phases plus `total` so far) for a route to put
 * into its response as it builds it. Headers set on a finished response force it to be rebuilt,
 * which costs more than the rest of a cache hit.
 */
export function requestHeaders(
  c: Context,
  phases: Readonly<{ [phase: string]: number | undefined }> = {},
): Record<string, string> {
  const state = stateOf(c);
  if (!state) return {};
  state.decorated = true;
  let timing = '';
  for (const [phase, ms] of Object.entries(phases)) {
    if (ms !== undefined) timing += `${phase};dur=${ms.toFixed(1)}, `;
  }
  timing += `total;dur=${(performance.now() - state.started).toFixed(1)}`;
  return { 'X-Request-Id': state.id, 'Server-Timing': timing };
}

/** Records what a route answered, for the log line, when the response object cannot say it. */
export function noteOutcome(c: Context, status: number, cache: string | undefined): void {
  const state = stateOf(c);
  if (!state) return;
  state.status = status;
  state.cache = cache;
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
    const state: RequestState = {
      id: chooseRequestId(c.req.header('x-request-id')),
      started: performance.now(),
      decorated: false,
    };
    c.set(STATE as never, state as never);
    c.set('requestId' as never, state.id as never);
    await next();
    const ms = performance.now() - state.started;
    if (!state.decorated && c.res !== RESPONSE_ALREADY_SENT) {
      setHeaders(c, {
        ...CORS_HEADERS,
        'X-Request-Id': state.id,
        'Server-Timing': appendServerTiming(c.res.headers.get('server-timing'), 'total', ms),
      });
    }
    const path = c.req.path;
    const quiet = QUIET_PATHS.has(path);
    if (!(log.isLevelEnabled?.(quiet ? 'debug' : 'info') ?? true)) return;
    const query = new URL(c.req.url).search;
    const line = {
      reqId: state.id,
      method: c.req.method,
      path,
      ...(query ? { query } : {}),
      status: state.status ?? (c.res === RESPONSE_ALREADY_SENT ? undefined : c.res.status),
      ms: Math.round(ms * 10) / 10,
      ...(state.cache ? { cache: state.cache } : {}),
    };
    if (quiet) log.debug(line, 'request');
    else log.info(line, 'request');
  };
}
