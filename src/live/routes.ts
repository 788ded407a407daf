import { readFile } from 'node:fs/promises';
import { Hono } from 'hono';
import { BadRequestError, NotFoundError, toProxyError } from '../errors.js';
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
/** Longest a blocking playlist reload or a preload-hinted part request is held. */
const BLOCK_MS = 6000;

function notLive(name: string): NotFoundError {
  return new NotFoundError(`Stream '${name}' is not live`);
}

/**
 * `/live/<name>/...`: the master playlist and MPD (short-lived: at most half a segment), each
 * run's variant playlists (`<run>/<variant>/index.m3u8`, with LL-HLS blocking reload), init
 * segments, segments (`<seq>.m4s`) and parts (`<seq>.<part>.m4s`), all immutable (a run id in
 * the path means a URL never names different bytes), and the latest frame.
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
    if (view.video.every((v) => v.segments.length === 0 && !v.open?.parts.length)) throw notLive(stream.name);
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
  app.get('/:name/:run/:variant/index.m3u8', async (c) => {
    const stream = findRun(c.req.param('name'), c.req.param('run'));
    const name = c.req.param('variant');
    const before = stream.variant(name);
    if (!before) throw notLive(stream.name);
    // Blocking playlist reload (LL-HLS): hold the answer until the asked part or segment exists.
    const msn = c.req.query('_HLS_msn');
    if (msn !== undefined) {
      const wanted = Number(msn);
      const part = c.req.query('_HLS_part');
      const wantedPart = part === undefined ? undefined : Number(part);
      if (!Number.isSafeInteger(wanted) || (wantedPart !== undefined && !Number.isSafeInteger(wantedPart)))
        throw new BadRequestError('_HLS_msn and _HLS_part must be whole numbers', '_HLS_msn');
      const newest = before.open?.seq ?? before.segments.at(-1)?.seq ?? 0;
      if (wanted > newest + 2)
        throw new BadRequestError('_HLS_msn is too far ahead of the live edge', '_HLS_msn');
      await stream.waitUntil(() => {
        const now = stream.variant(name)!;
        if (now.segments.some((s) => s.seq >= wanted)) return true;
        if (wantedPart === undefined || now.open?.seq !== wanted) return (now.open?.seq ?? -1) > wanted;
        return now.open.parts.length > wantedPart;
      }, BLOCK_MS);
    }
    const variant = stream.variant(name)!;
    if (variant.segments.length === 0 && !variant.open?.parts.length) throw notLive(stream.name);
    const view = stream.view();
    return c.body(
      liveMediaPlaylist(variant, view),
      200,
      playlistHeaders('application/vnd.apple.mpegurl', view.ended),
    );
  });
  app.get('/:name/:run/:variant/:file', async (c) => {
    const stream = findRun(c.req.param('name'), c.req.param('run'));
    const variant = c.req.param('variant');
    const fileName = c.req.param('file');
    const match = /^(\d{1,9})(?:\.(\d{1,4}))?\.m4s$/.exec(fileName);
    let body: Buffer | undefined;
    if (fileName === 'init.mp4') body = stream.initBytes(variant);
    else if (match?.[2] !== undefined) {
      const seq = Number(match[1]);
      const index = Number(match[2]);
      // A preload-hinted part is asked for before it exists: answer once it does.
      const open = stream.variant(variant)?.open;
      const upcoming =
        open && ((open.seq === seq && index === open.parts.length) || (open.seq + 1 === seq && index === 0));
      if (upcoming)
        await stream.waitUntil(() => stream.partBytes(variant, seq, index) !== undefined, BLOCK_MS);
      body = stream.partBytes(variant, seq, index);
    } else if (match) body = stream.segmentBytes(variant, Number(match[1]));
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
