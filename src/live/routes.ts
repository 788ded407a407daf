import { readFile } from 'node:fs/promises';
import { Hono } from 'hono';
import { NotFoundError, toProxyError } from '../errors.js';
import { CORS_HEADERS } from '../http/request-log.js';
import { errorResponse } from '../http/respond.js';
import { STREAM_NAME } from './keys.js';
import { liveDashManifest, liveMasterPlaylist, liveMediaPlaylist } from './playlists.js';
import type { LiveStream } from './stream.js';

/** What the live routes read. */
export interface LiveRouteDeps {
  /** The stream viewers of `name` see: live, interrupted, or ended but still kept. */
  stream(name: string): LiveStream | undefined;
  segmentSeconds: number;
}

const SEGMENT_CACHE = 'public, max-age=31536000, immutable';

function notLive(name: string): NotFoundError {
  return new NotFoundError(`Stream '${name}' is not live`);
}

/**
 * `/live/<name>/...`: the master playlist and MPD (short-lived: at most half a segment), each
 * run's variant playlists (`<run>/<variant>/index.m3u8`), init and media segments (immutable:
 * a run id in the path means a URL never names different bytes), and the latest frame.
 */
export function liveRoutes(deps: LiveRouteDeps): Hono {
  const app = new Hono();
  const listCache = `public, max-age=${Math.max(0, Math.floor(deps.segmentSeconds / 2))}`;
  const playlistHeaders = (type: string, ended: boolean) => ({
    ...CORS_HEADERS,
    'Content-Type': type,
    // Once ended the document no longer changes, but the name may go live again later.
    'Cache-Control': ended ? `public, max-age=${deps.segmentSeconds}` : listCache,
  });
  const find = (name: string): LiveStream => {
    const stream = STREAM_NAME.test(name) ? deps.stream(name) : undefined;
    if (!stream || stream.rungs.length === 0) throw notLive(name);
    return stream;
  };
  const findRun = (name: string, run: string): LiveStream => {
    const stream = find(name);
    if (stream.id !== run) throw new NotFoundError(`This run of stream '${name}' is over`);
    return stream;
  };

  app.get('/:name/ik-master.m3u8', (c) => {
    const stream = find(c.req.param('name'));
    const view = stream.view();
    if (view.video.every((v) => v.segments.length === 0)) throw notLive(stream.name);
    const body = liveMasterPlaylist(view, `${stream.id}/`);
    return c.body(body, 200, playlistHeaders('application/vnd.apple.mpegurl', view.ended));
  });
  app.get('/:name/ik-master.mpd', (c) => {
    const stream = find(c.req.param('name'));
    const view = stream.view();
    if (view.video.every((v) => v.segments.length === 0)) throw notLive(stream.name);
    const body = liveDashManifest(view, `${stream.id}/`);
    return c.body(body, 200, playlistHeaders('application/dash+xml', view.ended));
  });
  app.get('/:name/ik-thumbnail.jpg', async (c) => {
    const stream = find(c.req.param('name'));
    const body = await readFile(stream.thumbnailFile).catch(() => undefined);
    if (!body) throw notLive(stream.name);
    return c.body(new Uint8Array(body), 200, {
      ...CORS_HEADERS,
      'Content-Type': 'image/jpeg',
      'Cache-Control': `public, max-age=${deps.segmentSeconds}`,
    });
  });
  app.get('/:name/:run/:variant/index.m3u8', (c) => {
    const stream = findRun(c.req.param('name'), c.req.param('run'));
    const segments = stream.segmentsOf(c.req.param('variant'));
    if (!segments || segments.length === 0) throw notLive(stream.name);
    const view = stream.view();
    return c.body(
      liveMediaPlaylist(segments, view),
      200,
      playlistHeaders('application/vnd.apple.mpegurl', view.ended),
    );
  });
  app.get('/:name/:run/:variant/:file', async (c) => {
    const stream = findRun(c.req.param('name'), c.req.param('run'));
    const variant = c.req.param('variant');
    const fileName = c.req.param('file');
    const seq = /^(\d{1,9})\.m4s$/.exec(fileName)?.[1];
    const file =
      fileName === 'init.mp4'
        ? stream.initFile(variant)
        : seq !== undefined
          ? stream.segmentFile(variant, Number(seq))
          : undefined;
    if (!file) throw new NotFoundError(`No such segment of stream '${stream.name}'`);
    const body = await readFile(file).catch(() => undefined);
    if (!body) throw new NotFoundError(`No such segment of stream '${stream.name}'`);
    return c.body(new Uint8Array(body), 200, {
      ...CORS_HEADERS,
      'Content-Type': variant === 'audio' ? 'audio/mp4' : 'video/mp4',
      'Cache-Control': SEGMENT_CACHE,
    });
  });
  app.onError((error, c) => errorResponse(toProxyError(error), c.req.method === 'HEAD', CORS_HEADERS));
  return app;
}
