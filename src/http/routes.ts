import { Readable } from 'node:stream';
import type { Context } from 'hono';
import { Hono } from 'hono';
import { NotFoundError, ProxyError, toProxyError } from '../errors.js';
import type { Delivery, Logger, RenderService, Timings } from '../render/service.js';
import { parseRequestUrl } from '../url/request.js';
import { verifySignature } from '../url/signature.js';
import type { NamedTransformations } from '../url/types.js';
import { createPlaygroundApp, type PlaygroundDeps } from './playground.js';
import { requestLog } from './request-log.js';
import { errorResponse, respondWithBody, servableFromMeta } from './respond.js';

/** Checks the `/readyz` endpoint runs; each returns a problem description or undefined. */
export type ReadinessCheck = () => Promise<string | undefined>;

/** Everything the HTTP layer needs, resolved once by the composition root. */
export interface HttpDeps {
  service: RenderService;
  log: Logger;
  named: NamedTransformations;
  signingKeys: string[];
  /** Public path prefix (`BASE_PATH`), stripped before parsing and signature checks. */
  basePath: string;
  requireSignedUrls: boolean;
  cacheControl: string;
  readiness: ReadinessCheck[];
  /** Set when the process is stopping: `/readyz` fails at once. */
  isStopping: () => boolean;
  /** Prometheus text for `/metrics`. */
  metricsText?: () => Promise<string>;
  onRequest?: (kind: string, response: Response, seconds: number) => void;
  /** The playground's routes, mounted only when `PLAYGROUND` is on. */
  playground?: PlaygroundDeps;
}

function conditional(c: Context) {
  return {
    method: c.req.method,
    ifNoneMatch: c.req.header('if-none-match'),
    ifModifiedSince: c.req.header('if-modified-since'),
    ifRange: c.req.header('if-range'),
    range: c.req.header('range'),
  };
}

async function respondToDelivery(c: Context, delivery: Delivery, cacheControl: string): Promise<Response> {
  if (delivery.kind === 'original') {
    const { stat } = delivery;
    return respondWithBody(
      conditional(c),
      {
        contentType: stat.contentType ?? 'application/octet-stream',
        size: stat.size,
        etag: stat.version.startsWith('"') ? stat.version : `"${stat.version}"`,
        lastModified: stat.lastModified?.getTime(),
        open: delivery.open,
      },
      { 'Cache-Control': cacheControl, 'X-Cache': 'ORIGIN' },
    );
  }
  if (delivery.kind === 'live') {
    // Still encoding: stream the growing output. Its bytes are final (the encoder only appends),
    // so the ETag is already the one the finished file will have.
    const headers = new Headers({
      'Content-Type': delivery.meta.contentType,
      'Cache-Control': cacheControl,
      'X-Cache': 'MISS-STREAMING',
      ...(delivery.meta.headers ?? {}),
    });
    // An mp4 streams its final bytes (ETag known, ranges valid later); a WebM is re-indexed after
    // the encode, so its streamed copy must not be cached or resumed as the final one.
    if (delivery.meta.etag) {
      headers.set('ETag', delivery.meta.etag);
      headers.set('Accept-Ranges', 'bytes');
    } else {
      headers.set('Accept-Ranges', 'none');
      headers.set('Cache-Control', 'no-store');
    }
    if (c.req.method === 'HEAD') return new Response(null, { status: 200, headers });
    return new Response(Readable.toWeb(delivery.open()) as unknown as ReadableStream, {
      status: 200,
      headers,
    });
  }
  const { object } = delivery;
  const extra: Record<string, string> = {
    'Cache-Control': cacheControl,
    'X-Cache': delivery.cacheStatus === 'HIT' ? `HIT-${object.tier.toUpperCase()}` : 'MISS',
    ...(object.meta.headers ?? {}),
  };
  return respondWithBody(
    conditional(c),
    servableFromMeta(object.meta, (range) => object.open(range), object.body),
    extra,
  );
}

/**
 * Builds the Hono app: health endpoints, then one catch-all route that runs the one-way flow
 * parse -> verify -> deliver -> respond. Errors are rendered in exactly one place.
 */
export function createHttpApp(deps: HttpDeps): Hono {
  const app = new Hono();
  app.use('*', requestLog(deps.log));

  // Players (hls.js, dash.js, <video crossorigin>) on other origins read outputs with fetch/XHR.
  app.use('*', async function cors(c, next) {
    await next();
    c.res.headers.set('Access-Control-Allow-Origin', '*');
    c.res.headers.set('Access-Control-Expose-Headers', CORS_EXPOSED);
  });
  app.options('*', (c) =>
    c.body(null, 204, {
      'Access-Control-Allow-Methods': 'GET, HEAD, OPTIONS',
      'Access-Control-Allow-Headers': 'Range, If-None-Match, If-Modified-Since, If-Range',
      'Access-Control-Max-Age': '86400',
    }),
  );

  app.get('/healthz', (c) => c.json({ status: 'ok' }, 200, { 'Cache-Control': 'no-store' }));
  app.get('/readyz', async function readyz(c) {
    const problems: string[] = [];
    if (deps.isStopping()) problems.push('shutting down');
    else {
      for (const problem of await Promise.all(
        deps.readiness.map((check) => check().catch((e: Error) => e.message)),
      )) {
        if (problem) problems.push(problem);
      }
    }
    return c.json(
      { status: problems.length ? 'unavailable' : 'ready', problems },
      problems.length ? 503 : 200,
      {
        'Cache-Control': 'no-store',
      },
    );
  });
  if (deps.metricsText) {
    const metricsText = deps.metricsText;
    app.get('/metrics', async (c) =>
      c.text(await metricsText(), 200, {
        'Cache-Control': 'no-store',
        'Content-Type': 'text/plain; version=0.0.4',
      }),
    );
  }

  if (deps.playground) app.route('/', createPlaygroundApp(deps.playground));

  app.on(['GET', 'HEAD'], '*', async function deliver(c) {
    const started = performance.now();
    let kind = 'unknown';
    let response: Response;
    try {
      if (deps.isStopping()) {
        throw new ProxyError(503, 'shutting_down', 'This node is shutting down; retry the request', {
          headers: { 'Retry-After': '1' },
        });
      }
      const url = new URL(c.req.url);
      let pathname = url.pathname;
      if (deps.basePath) {
        if (pathname !== deps.basePath && !pathname.startsWith(`${deps.basePath}/`)) {
          throw new NotFoundError(`Paths start with ${deps.basePath}/`);
        }
        pathname = pathname.slice(deps.basePath.length) || '/';
      }
      // The signature is checked before anything touches the origin.
      if (deps.requireSignedUrls || (deps.signingKeys.length > 0 && url.searchParams.has('ik-s'))) {
        verifyWithManifestScope(url.pathname, url.search, deps);
      }
      const request = parseRequestUrl(pathname, url.searchParams, { named: deps.named });
      kind = request.suffix.kind;
      if (request.sourcePath === '') throw new NotFoundError('No source path in the URL');
      const range = c.req.header('range');
      const timings: Timings = {};
      const delivery = await deps.service.deliver(request, {
        userAgent: c.req.header('user-agent'),
        partialRange: range !== undefined && !/^bytes=0-$/.test(range.trim()),
        query: url.search,
        signal: c.req.raw.signal,
        timings,
      });
      response = await respondToDelivery(c, delivery, deps.cacheControl);
      const serverTiming = Object.entries(timings)
        .map(([phase, ms]) => `${phase};dur=${ms.toFixed(1)}`)
        .join(', ');
      if (serverTiming) response.headers.append('Server-Timing', serverTiming);
    } catch (error) {
      const proxyError = toProxyError(error);
      logFailure(deps.log, proxyError, c.req.url);
      response = errorResponse(proxyError, c.req.method === 'HEAD');
    }
    deps.onRequest?.(kind, response, (performance.now() - started) / 1000);
    return response;
  });

  app.notFound((c) =>
    c.req.method === 'GET' || c.req.method === 'HEAD'
      ? errorResponse(new NotFoundError(`No route for ${new URL(c.req.url).pathname}`))
      : errorResponse(
          new ProxyError(405, 'method_not_allowed', `${c.req.method} is not supported; use GET or HEAD`, {
            headers: { Allow: 'GET, HEAD, OPTIONS' },
          }),
        ),
  );
  app.onError((error, c) => {
    const proxyError = toProxyError(error);
    logFailure(deps.log, proxyError, c.req.url);
    return errorResponse(proxyError, c.req.method === 'HEAD');
  });
  return app;
}

const CORS_EXPOSED = 'Content-Length, Content-Range, Accept-Ranges, ETag, X-Cache';

const ABS_RESOURCE = /\/ik-abs\/[^/]+\/[^/]+$/;

/**
 * Checks `ik-s`. Playlists and segments under `<source>/ik-abs/` carry their manifest's query
 * string (relative URLs), so they also verify with the signature of the manifest that listed
 * them: a signed master URL unlocks its own ladder and nothing else.
 */
function verifyWithManifestScope(pathname: string, search: string, deps: HttpDeps): void {
  const now = Math.floor(Date.now() / 1000);
  const options = { basePath: deps.basePath };
  try {
    verifySignature(pathname + search, deps.signingKeys, now, options);
  } catch (error) {
    if (!ABS_RESOURCE.test(pathname)) throw error;
    for (const manifest of ['/ik-master.m3u8', '/ik-master.mpd']) {
      try {
        verifySignature(pathname.replace(ABS_RESOURCE, manifest) + search, deps.signingKeys, now, options);
        return;
      } catch {
        // try the other manifest kind
      }
    }
    throw error;
  }
}

function logFailure(log: Logger, error: ProxyError, url: string): void {
  if (error.internal) {
    const stderr = (error as ProxyError & { stderrTail?: string }).stderrTail;
    log.error({ err: error, cause: error.cause, url, code: error.code, stderr }, error.message);
  } else if (error instanceof ProxyError) {
    log.debug({ url, code: error.code, status: error.status }, error.message);
  }
}
