/**
 * The API's HTTP routes on ImageKit's paths: `POST /api/v1/files/upload` (what the upload SDKs
 * call) and the Media Library under `/v1/files` (what `@imagekit/nodejs` calls with `baseURL` set
 * to the proxy). Each route: authenticate -> parse -> act -> respond. Error bodies carry ImageKit's
 * top-level `message` beside the proxy's `error: {code, message}`.
 */
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import type { Context } from 'hono';
import { Hono } from 'hono';
import { MethodNotAllowedError, NotFoundError, type ProxyError, toProxyError } from '../errors.js';
import type { Logger } from '../render/logger.js';
import type { UrlBase } from './answer.js';
import { checkBasic } from './auth.js';
import { InvalidFieldError } from './errors.js';
import { type MediaLibrary, MissingFilesError, parseListQuery } from './library.js';
import type { UploadService } from './upload.js';

/** What the routes need. */
export interface ApiRouteDeps {
  upload: UploadService;
  library: MediaLibrary;
  privateKeys: readonly string[];
  /** `PUBLIC_URL`; the request's own origin when unset. */
  publicUrl?: string;
  basePath: string;
  log: Logger;
}

/** The JSON error document of the API. */
export function apiErrorResponse(error: ProxyError, extraHeaders: Record<string, string> = {}): Response {
  const body: Record<string, unknown> = {
    message: error.message,
    help: 'See the README section "Upload and media library API"',
    error: { code: error.code, message: error.message },
  };
  if (error instanceof MissingFilesError) body.missingFileIds = error.missingFileIds;
  return new Response(JSON.stringify(body), {
    status: error.status,
    headers: {
      ...extraHeaders,
      ...error.headers,
      'Content-Type': 'application/json; charset=utf-8',
      'Cache-Control': 'no-store',
    },
  });
}

function json(value: unknown, status = 200): Response {
  return new Response(JSON.stringify(value), {
    status,
    headers: { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' },
  });
}

const MAX_JSON_BYTES = 1024 * 1024;

async function jsonBody(c: Context): Promise<unknown> {
  const tooLarge = () => new InvalidFieldError('body', 'The JSON body is over 1 MiB');
  if (Number(c.req.header('content-length') ?? '0') > MAX_JSON_BYTES) throw tooLarge();
  // Counted as it arrives: a chunked body declares no length, and must not be held whole first.
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of c.req.raw.body ?? []) {
    size += chunk.length;
    if (size > MAX_JSON_BYTES) throw tooLarge();
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return text === '' ? {} : JSON.parse(text);
  } catch {
    throw new InvalidFieldError('body', 'Expected a JSON body');
  }
}

/** The request body as a Node stream: the socket's own stream under the Node server. */
function bodyStream(c: Context): Readable {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  if (incoming) return incoming;
  const web = c.req.raw.body;
  return web ? Readable.fromWeb(web as import('node:stream/web').ReadableStream) : Readable.from([]);
}

/** The routes of an enabled API over a writable origin. */
export function createApiApp(deps: ApiRouteDeps): Hono {
  const app = new Hono();
  const base = (c: Context): UrlBase => ({
    origin: deps.publicUrl ?? new URL(c.req.url).origin,
    basePath: deps.basePath,
  });
  const run =
    (work: (c: Context) => Promise<Response>, extra: Record<string, string> = {}) =>
    async (c: Context): Promise<Response> => {
      try {
        return await work(c);
      } catch (error) {
        const proxyError = toProxyError(error);
        if (proxyError.internal) deps.log.error({ err: error, url: c.req.url }, proxyError.message);
        else
          deps.log.debug(
            { url: c.req.url, code: proxyError.code, detail: proxyError.detail },
            proxyError.message,
          );
        return apiErrorResponse(proxyError, extra);
      }
    };
  const library = (work: (c: Context) => Promise<Response>) =>
    run(async (c) => {
      checkBasic(c.req.header('authorization'), deps.privateKeys);
      return work(c);
    });

  app.options('/api/v1/files/upload', (c) =>
    c.body(null, 204, {
      'Access-Control-Allow-Methods': 'POST, OPTIONS',
      'Access-Control-Allow-Headers': 'Authorization, Content-Type, X-Request-Id',
      'Access-Control-Max-Age': '86400',
    }),
  );
  // The body may be left unread after a refusal, so the connection is not reused.
  app.post(
    '/api/v1/files/upload',
    run(
      async (c) => {
        const timings: Record<string, number> = {};
        const answer = json(
          await deps.upload.upload({
            authorization: c.req.header('authorization'),
            contentType: c.req.header('content-type'),
            body: bodyStream(c),
            base: base(c),
            timings,
          }),
        );
        // Where an upload's time went: receiving (and staging) it, probing, a pre transformation, storing.
        answer.headers.set(
          'Server-Timing',
          Object.entries(timings)
            .map(([name, ms]) => `${name};dur=${ms.toFixed(1)}`)
            .join(', '),
        );
        return answer;
      },
      { Connection: 'close' },
    ),
  );
  app.get(
    '/v1/files',
    library(async (c) =>
      json(await deps.library.list(parseListQuery(new URL(c.req.url).searchParams), base(c))),
    ),
  );
  app.post(
    '/v1/files/purge',
    library(async (c) => json(await deps.library.purge(await jsonBody(c), base(c)), 201)),
  );
  app.get(
    '/v1/files/purge/:requestId',
    library(async (c) => json(await deps.library.purgeStatus(c.req.param('requestId') ?? ''))),
  );
  app.post(
    '/v1/files/batch/deleteByFileIds',
    library(async (c) => json(await deps.library.bulkDelete(await jsonBody(c)))),
  );
  app.post(
    '/v1/files/copy',
    library(async (c) => {
      await deps.library.copy(await jsonBody(c), false);
      return new Response(null, { status: 204, headers: { 'Cache-Control': 'no-store' } });
    }),
  );
  app.post(
    '/v1/files/move',
    library(async (c) => {
      await deps.library.copy(await jsonBody(c), true);
      return new Response(null, { status: 204, headers: { 'Cache-Control': 'no-store' } });
    }),
  );
  app.put(
    '/v1/files/rename',
    library(async (c) => json(await deps.library.rename(await jsonBody(c), base(c)))),
  );
  app.post(
    '/v1/files/addTags',
    library(async (c) => json(await deps.library.changeTags(await jsonBody(c), 'add'))),
  );
  app.post(
    '/v1/files/removeTags',
    library(async (c) => json(await deps.library.changeTags(await jsonBody(c), 'remove'))),
  );
  app.get(
    '/v1/files/:fileId/details',
    library(async (c) => json(await deps.library.details(c.req.param('fileId') ?? '', base(c)))),
  );
  app.patch(
    '/v1/files/:fileId/details',
    library(async (c) =>
      json(await deps.library.update(c.req.param('fileId') ?? '', await jsonBody(c), base(c))),
    ),
  );
  app.get(
    '/v1/files/:fileId/metadata',
    library(async (c) => json(await deps.library.metadata(c.req.param('fileId') ?? ''))),
  );
  app.delete(
    '/v1/files/:fileId',
    library(async (c) => {
      await deps.library.delete(c.req.param('fileId') ?? '');
      return new Response(null, { status: 204, headers: { 'Cache-Control': 'no-store' } });
    }),
  );
  app.on(
    ['POST', 'PUT', 'PATCH', 'DELETE'],
    ['/v1/*', '/api/v1/*'],
    library(async (c) => {
      throw new NotFoundError(
        `${c.req.method} ${new URL(c.req.url).pathname} is not part of this server's API`,
      );
    }),
  );
  return app;
}

/**
 * The routes when the API cannot run: no `API_PRIVATE_KEY` (404, the API does not exist here) or
 * a read-only origin (405 naming why). GET requests under `/v1/files` stay delivery paths when
 * the API is off.
 */
export function createApiOffApp(reason: 'no-key' | 'read-only'): Hono {
  const app = new Hono();
  const refuse = () =>
    apiErrorResponse(
      reason === 'no-key'
        ? new NotFoundError(
            'The upload and media library API is off on this server (API_PRIVATE_KEY is not set)',
          )
        : new MethodNotAllowedError(
            'The origin is read-only (an HTTP origin); uploads and file management need a folder, S3 or Azure origin',
          ),
    );
  app.all('/api/v1/*', refuse);
  app.on(['POST', 'PUT', 'PATCH', 'DELETE'], '/v1/files/*', refuse);
  app.on(['POST', 'PUT', 'PATCH', 'DELETE'], '/v1/files', refuse);
  if (reason === 'read-only') app.get('/v1/files', refuse);
  return app;
}
