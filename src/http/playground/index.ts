import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { Hono } from 'hono';
import { BadRequestError, NotFoundError, ProxyError, toProxyError } from '../../errors.js';
import { contentTypeFromPath, isMediaPath } from '../../origin/content-type.js';
import type { SourceListing } from '../../origin/types.js';
import { errorResponse } from '../respond.js';
import { playgroundPage } from './page.js';

export { jsonForScript, type PlaygroundPageOptions, playgroundPage } from './page.js';

/**
 * The scripts the page loads, read once at start-up by `loadPlaygroundAssets` so a request never
 * touches the disk.
 */
export interface PlaygroundAssets {
  /** The page's own browser modules by file name (`main.js`, `urls.js`). */
  client: ReadonlyMap<string, Buffer>;
  /** hls.js's minified build, or undefined when the package is not installed (production images). */
  hls?: Buffer;
}

/** What the playground routes need, resolved once by the composition root. */
export interface PlaygroundDeps {
  /** Public path prefix (`BASE_PATH`); the playground lives at `<basePath>/playground`. */
  basePath: string;
  /** The origin's listing, when the origin can list (`Origin.list`). */
  listSources?: (dir: string, limit: number) => Promise<SourceListing[]>;
  /**
   * Signs a public path+query with the first `SIGNING_KEY`. Present only when a key is
   * configured; the key itself never leaves the server.
   */
  sign?: (pathAndQuery: string) => string;
  assets: PlaygroundAssets;
  /** Whether the upload API is on (the page then offers its upload box). */
  uploads?: boolean;
}

/** One source as `/playground/api/sources` lists it. */
export interface PlaygroundSource {
  path: string;
  size: number;
  /** Media type implied by the extension (`video/mp4`, `audio/mp4`). */
  type: string;
}

/** A start-up failure: the build left out a file the playground serves. */
export class PlaygroundAssetError extends ProxyError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(500, 'playground_asset_missing', message, { ...options, internal: true });
  }
}

/** How many sources the page lists. */
const SOURCE_LIMIT = 200;
/**
 * How many origin entries are read to find them: non-media files (manifests, notes) are skipped,
 * so the origin is asked for more than the page shows.
 */
const LISTING_LIMIT = 2000;
/** Longest path+query the sign route accepts; real URLs are far shorter. */
const MAX_SIGN_INPUT = 4096;
/** The browser modules in `client/`; main.js imports urls.js by a relative URL. */
const CLIENT_FILES = ['main.js', 'urls.js', 'upload.js'] as const;
/**
 * Where the browser modules sit: next to this module both in `src/` (tests, tsx) and in `dist/`
 * (the build emits them there because tsconfig.json has `allowJs`).
 */
const CLIENT_DIR = new URL('./client/', import.meta.url);

/**
 * Reads the page's browser modules and, when installed, hls.js. Production images prune
 * devDependencies, so a missing hls.js is an expected state (the page then says so); a missing
 * module of the page itself is a broken build.
 *
 * @throws PlaygroundAssetError naming the file the build did not produce.
 */
export async function loadPlaygroundAssets(): Promise<PlaygroundAssets> {
  const client = new Map<string, Buffer>();
  for (const name of CLIENT_FILES) {
    const file = new URL(name, CLIENT_DIR);
    try {
      client.set(name, await readFile(file));
    } catch (error) {
      throw new PlaygroundAssetError(`The playground's ${name} is missing at ${file.pathname}`, {
        cause: error,
      });
    }
  }
  let hls: Buffer | undefined;
  try {
    hls = await readFile(createRequire(import.meta.url).resolve('hls.js/dist/hls.min.js'));
  } catch {
    hls = undefined;
  }
  return hls === undefined ? { client } : { client, hls };
}

/**
 * The sources the page offers: media files only (what the proxy can transform; manifests, notes
 * and images are left out), sorted by path, at most `limit`. Pure.
 */
export function playgroundSources(
  listing: readonly SourceListing[],
  limit: number,
): { sources: PlaygroundSource[]; truncated: boolean } {
  const media = listing
    .filter((entry) => isMediaPath(entry.path))
    .map(({ path, size }) => ({ path, size, type: contentTypeFromPath(path) ?? '' }))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { sources: media.slice(0, limit), truncated: media.length > limit };
}

/**
 * Checks a URL the page asks the proxy to sign: a path on this proxy (under `basePath`), never an
 * absolute or protocol-relative URL, so the route cannot sign for anyone else's host.
 *
 * @throws BadRequestError naming what is wrong with `url`.
 */
export function checkSignablePath(url: string | undefined, basePath: string): string {
  if (url === undefined || url === '') throw new BadRequestError("Give the path to sign as 'url'", 'url');
  if (url.length > MAX_SIGN_INPUT)
    throw new BadRequestError(`'url' is longer than ${MAX_SIGN_INPUT} characters`, 'url');
  // `//host`, `/\host` and `http:` are all ways to leave this origin; only plain paths are signed.
  if (
    !url.startsWith('/') ||
    url.startsWith('//') ||
    url.includes('\\') ||
    /^[a-z][a-z0-9+.-]*:/i.test(url)
  ) {
    throw new BadRequestError(
      "'url' must be a path on this proxy such as /video.mp4?tr=w-300, not an absolute URL",
      'url',
    );
  }
  if (/[\u0000-\u0020\u007f]/.test(url))
    throw new BadRequestError("'url' must not contain spaces or control characters", 'url');
  if (basePath && url !== basePath && !url.startsWith(`${basePath}/`)) {
    throw new BadRequestError(`'url' must start with ${basePath}/`, 'url');
  }
  return url;
}

/** Blocks everything the page does not need: no inline or third-party code, no plugins, no framing. */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "media-src 'self' blob:",
  // hls.js transmuxes in a worker it builds from a blob URL.
  "worker-src 'self' blob:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

const NO_STORE = { 'Cache-Control': 'no-store' };

/**
 * The playground's routes: the page at `<basePath>/playground`, a redirect there from
 * `<basePath>/`, its browser modules, hls.js, the source listing and the signing helper. Mount it
 * before the catch-all delivery route, and only when `PLAYGROUND` is on.
 */
export function createPlaygroundApp(deps: PlaygroundDeps): Hono {
  const app = new Hono();
  const base = deps.basePath;
  const home = `${base}/playground`;
  const head = (c: { req: { method: string } }) => c.req.method === 'HEAD';

  app.get(base === '' ? '/' : base, (c) => c.redirect(home, 302));
  if (base !== '') app.get(`${base}/`, (c) => c.redirect(home, 302));

  app.get(home, (c) => {
    const page = playgroundPage({
      basePath: base,
      signing: deps.sign !== undefined,
      hlsAvailable: deps.assets.hls !== undefined,
      uploads: deps.uploads === true,
    });
    return c.html(page, 200, {
      ...NO_STORE,
      'Content-Security-Policy': CONTENT_SECURITY_POLICY,
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
    });
  });

  app.get(`${home}/client/:file`, (c) => {
    const body = deps.assets.client.get(c.req.param('file'));
    if (!body) return errorResponse(new NotFoundError('No such playground file'), head(c));
    // no-store: the page is no-store too, and a cached module from an older release could
    // disagree with a newer page's markup.
    return c.body(new Uint8Array(body), 200, {
      ...NO_STORE,
      'Content-Type': 'text/javascript; charset=utf-8',
      'X-Content-Type-Options': 'nosniff',
    });
  });

  app.get(`${home}/hls.js`, (c) => {
    if (!deps.assets.hls) {
      return errorResponse(
        new NotFoundError(
          'hls.js is not installed in this build (it is a devDependency, pruned from production images)',
        ),
        head(c),
      );
    }
    return c.body(new Uint8Array(deps.assets.hls), 200, {
      'Content-Type': 'text/javascript; charset=utf-8',
      'Cache-Control': 'public, max-age=86400',
      'X-Content-Type-Options': 'nosniff',
    });
  });

  app.get(`${home}/api/sources`, async (c) => {
    if (!deps.listSources) return c.json({ listable: false, sources: [], truncated: false }, 200, NO_STORE);
    try {
      const listing = await deps.listSources('', LISTING_LIMIT);
      const { sources, truncated } = playgroundSources(listing, SOURCE_LIMIT);
      return c.json(
        { listable: true, sources, truncated: truncated || listing.length >= LISTING_LIMIT },
        200,
        NO_STORE,
      );
    } catch (error) {
      return errorResponse(toProxyError(error), head(c));
    }
  });

  app.get(`${home}/api/sign`, (c) => {
    try {
      if (!deps.sign) throw new NotFoundError('No SIGNING_KEY is configured, so URLs need no signature');
      const url = checkSignablePath(c.req.query('url'), base);
      return c.json({ url: deps.sign(url) }, 200, NO_STORE);
    } catch (error) {
      return errorResponse(toProxyError(error), head(c));
    }
  });

  return app;
}
