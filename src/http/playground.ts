import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { Hono } from 'hono';
import { BadRequestError, NotFoundError, ProxyError, toProxyError } from '../errors.js';
import type { SourceListing } from '../origin/types.js';
import { errorResponse } from './respond.js';

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
  /** hls.js's minified build, or undefined when the package is not installed (production images). */
  hlsScript?: Buffer;
}

/** What the page itself needs to know; everything else it asks the proxy for. */
export interface PlaygroundPageOptions {
  basePath: string;
  /** Whether URLs must be signed through `/playground/api/sign`. */
  signing: boolean;
  /** Whether `/playground/hls.js` serves the player library. */
  hlsAvailable: boolean;
  /** CSP nonce of the page's inline script. */
  nonce: string;
}

/** How many sources the page lists. */
const SOURCE_LIMIT = 200;
/** Longest path+query the sign route accepts; real URLs are far shorter. */
const MAX_SIGN_INPUT = 4096;

/**
 * Reads hls.js's minified build from node_modules once. Production images prune devDependencies,
 * so a missing package is an expected state (the page then says so), not an error.
 */
export async function loadHlsScript(): Promise<Buffer | undefined> {
  try {
    const file = createRequire(import.meta.url).resolve('hls.js/dist/hls.min.js');
    return await readFile(file);
  } catch {
    return undefined;
  }
}

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/**
 * JSON safe to embed in a `<script type="application/json">`: `<`, `>` and `&` are escaped as
 * JSON unicode escapes, so no value can close the element or open a comment.
 */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
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

const STYLE = `
  :root { color-scheme: light dark; font-family: system-ui, sans-serif; }
  body { margin: 0 auto; max-width: 1100px; padding: 1rem; }
  h1 { font-size: 1.4rem; margin: 0 0 .5rem; }
  h2 { font-size: 1.05rem; margin: 1.2rem 0 .4rem; }
  .layout { display: grid; grid-template-columns: 260px minmax(0, 1fr); gap: 1rem; }
  #source-list { width: 100%; height: 22rem; font-family: ui-monospace, monospace; font-size: .85rem; }
  #metadata { font-size: .8rem; max-height: 12rem; overflow: auto; background: rgba(127,127,127,.12); padding: .5rem; margin: 0; }
  #thumbnails { display: flex; gap: 4px; overflow-x: auto; min-height: 60px; }
  #thumbnails figure { margin: 0; text-align: center; font-size: .7rem; }
  #thumbnails img { width: 160px; display: block; background: rgba(127,127,127,.2); }
  video { width: 100%; max-height: 360px; background: #000; }
  .players { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 1rem; }
  .builder { display: flex; flex-wrap: wrap; gap: .5rem; align-items: end; }
  .builder label { display: flex; flex-direction: column; font-size: .8rem; }
  .builder input, .builder select { width: 6rem; }
  #builder-url { display: block; word-break: break-all; margin: .5rem 0; padding: .4rem; background: rgba(127,127,127,.12); }
  .note { font-size: .85rem; opacity: .8; }
  .error { color: #c62828; }
`;

/**
 * The page's behaviour. Plain ES2017 in a string: no build step, no template literals (this file
 * is one), and every value from the proxy reaches the DOM through `textContent` or a property,
 * never through `innerHTML`.
 */
const SCRIPT = `
(function () {
  'use strict';
  var config = JSON.parse(document.getElementById('playground-config').textContent);
  var base = config.basePath;
  var current = { source: null, duration: 0, hls: null };
  function $(id) { return document.getElementById(id); }
  function encodePath(path) { return path.split('/').map(encodeURIComponent).join('/'); }
  function sourceUrl(source, suffix, tr) {
    var url = base + '/' + encodePath(source) + (suffix || '');
    return tr ? url + '?tr=' + tr : url;
  }
  function signed(url) {
    if (!config.signing) return Promise.resolve(url);
    return fetch(base + '/playground/api/sign?url=' + encodeURIComponent(url)).then(function (response) {
      if (!response.ok) throw new Error('signing failed with HTTP ' + response.status);
      return response.json();
    }).then(function (body) { return body.url; });
  }
  function showError(id, message) { var el = $(id); el.textContent = message; el.className = 'note error'; }

  function loadSources() {
    fetch(base + '/playground/api/sources').then(function (response) { return response.json(); }).then(function (body) {
      var list = $('source-list');
      list.textContent = '';
      if (!body.listable) { $('sources-status').textContent = 'This origin cannot be listed; type a path below.'; return; }
      body.sources.forEach(function (entry) {
        var option = document.createElement('option');
        option.value = entry.path;
        option.textContent = entry.path + '  (' + (entry.size / 1048576).toFixed(1) + ' MB)';
        list.appendChild(option);
      });
      $('sources-status').textContent = body.sources.length + ' source(s)' + (body.truncated ? ' (first ' + body.sources.length + ')' : '');
    }).catch(function (error) { showError('sources-status', 'Could not list sources: ' + error.message); });
  }

  function selectSource(source) {
    current.source = source;
    $('current-source').textContent = source;
    $('metadata').textContent = 'loading...';
    $('thumbnails').textContent = '';
    signed(sourceUrl(source, '/ik-metadata.json')).then(fetch).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) throw new Error((body.error && body.error.message) || ('HTTP ' + response.status));
        return body;
      });
    }).then(function (metadata) {
      $('metadata').textContent = JSON.stringify(metadata, null, 2);
      current.duration = Number(metadata.duration) || 0;
      showThumbnails(source, current.duration);
      if (metadata.width) playHls(source); else showError('hls-status', 'No video stream: nothing to stream as HLS.');
      updateBuilder();
    }).catch(function (error) { $('metadata').textContent = 'Metadata failed: ' + error.message; });
  }

  function showThumbnails(source, duration) {
    var strip = $('thumbnails');
    for (var i = 0; i < 10; i++) {
      var seconds = Math.floor((duration * i / 10) * 100) / 100;
      var figure = document.createElement('figure');
      var image = document.createElement('img');
      image.alt = 'frame at ' + seconds + ' s';
      image.loading = 'eager';
      var caption = document.createElement('figcaption');
      caption.textContent = seconds + ' s';
      figure.appendChild(image);
      figure.appendChild(caption);
      strip.appendChild(figure);
      (function (img, at) {
        signed(sourceUrl(source, '/ik-thumbnail.jpg', 'so-' + at + ',w-160')).then(function (url) { img.src = url; });
      })(image, seconds);
    }
  }

  function playHls(source) {
    var video = $('hls-video');
    var status = $('hls-status');
    if (current.hls) { current.hls.destroy(); current.hls = null; }
    signed(sourceUrl(source, '/ik-master.m3u8', 'sr-240_360_720')).then(function (url) {
      $('hls-url').textContent = url;
      if (window.Hls && window.Hls.isSupported()) {
        var hls = new window.Hls();
        current.hls = hls;
        hls.on(window.Hls.Events.ERROR, function (_event, data) {
          if (data.fatal) showError('hls-status', 'hls.js error: ' + data.type + ' ' + data.details);
        });
        hls.on(window.Hls.Events.MANIFEST_PARSED, function (_event, data) {
          status.className = 'note';
          status.textContent = 'hls.js: ' + data.levels.length + ' rendition(s)';
          video.play().catch(function () {});
        });
        hls.loadSource(url);
        hls.attachMedia(video);
      } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
        status.className = 'note';
        status.textContent = 'native HLS';
        video.src = url;
        video.play().catch(function () {});
      } else if (!config.hlsAvailable) {
        showError('hls-status', 'HLS playback needs hls.js, which is not installed in this build (it is a devDependency).');
      } else {
        showError('hls-status', 'This browser supports neither Media Source Extensions nor native HLS.');
      }
    }).catch(function (error) { showError('hls-status', error.message); });
  }

  var FIELDS = ['w', 'h', 'f', 'q', 'so', 'du', 'rt'];
  function transformString() {
    return FIELDS.map(function (key) {
      var value = $('param-' + key).value.trim();
      return value === '' ? '' : key + '-' + value;
    }).filter(Boolean).join(',');
  }
  function updateBuilder() {
    if (!current.source) return Promise.resolve('');
    return signed(sourceUrl(current.source, '', transformString())).then(function (url) {
      var link = $('builder-url');
      link.textContent = url;
      link.href = url;
      return url;
    }).catch(function (error) { showError('builder-status', error.message); return ''; });
  }
  function playTransform() {
    updateBuilder().then(function (url) {
      if (!url) return;
      var video = $('transform-video');
      video.src = url;
      video.play().catch(function () {});
    });
  }

  $('source-list').addEventListener('change', function (event) { if (event.target.value) selectSource(event.target.value); });
  $('source-form').addEventListener('submit', function (event) {
    event.preventDefault();
    var path = $('source-path').value.trim().replace(/^\\/+/, '');
    if (path) selectSource(path);
  });
  FIELDS.forEach(function (key) { $('param-' + key).addEventListener('input', updateBuilder); });
  $('builder-form').addEventListener('submit', function (event) { event.preventDefault(); playTransform(); });
  loadSources();
})();
`;

/**
 * The playground page: one self-contained HTML document (its only other request for code is
 * hls.js from this proxy). Pure: everything it shows comes from the proxy's own endpoints.
 */
export function playgroundPage(options: PlaygroundPageOptions): string {
  const base = escapeHtml(options.basePath);
  const nonce = escapeHtml(options.nonce);
  const config = jsonForScript({
    basePath: options.basePath,
    signing: options.signing,
    hlsAvailable: options.hlsAvailable,
  });
  const hlsTag = options.hlsAvailable ? `<script src="${base}/playground/hls.js"></script>` : '';
  const hlsNote = options.hlsAvailable
    ? ''
    : '<p class="note error" id="hls-missing">hls.js is not installed in this build (it is a devDependency), so the HLS player works only in browsers with native HLS.</p>';
  const option = (value: string) =>
    `<option value="${escapeHtml(value)}">${escapeHtml(value || '(none)')}</option>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ik-video-proxy playground</title>
<style>${STYLE}</style>
</head>
<body>
<h1>ik-video-proxy playground</h1>
<p class="note">Pick a source, look at its metadata and frames, play its HLS ladder, and build a transform URL.${options.signing ? ' URLs are signed by the proxy; the key never reaches this page.' : ''}</p>
<div class="layout">
  <section>
    <h2>Sources</h2>
    <p class="note" id="sources-status">loading...</p>
    <select id="source-list" size="16" aria-label="sources"></select>
    <form id="source-form">
      <input id="source-path" placeholder="or type a path" aria-label="source path">
      <button type="submit">Open</button>
    </form>
  </section>
  <section>
    <h2>Metadata of <code id="current-source">(none)</code></h2>
    <pre id="metadata">Choose a source.</pre>
    <h2>Thumbnails at 10 points</h2>
    <div id="thumbnails"></div>
    <div class="players">
      <div>
        <h2>HLS (<code>sr-240_360_720</code>)</h2>
        ${hlsNote}
        <video id="hls-video" controls muted playsinline></video>
        <p class="note" id="hls-status"></p>
        <code class="note" id="hls-url"></code>
      </div>
      <div>
        <h2>Transform</h2>
        <video id="transform-video" controls muted playsinline></video>
        <p class="note" id="builder-status"></p>
      </div>
    </div>
    <h2>URL builder</h2>
    <form id="builder-form" class="builder">
      <label>w <input id="param-w" value="640" inputmode="numeric"></label>
      <label>h <input id="param-h" inputmode="numeric"></label>
      <label>f <select id="param-f">${['', 'mp4', 'webm', 'auto'].map(option).join('')}</select></label>
      <label>q <input id="param-q" inputmode="numeric"></label>
      <label>so <input id="param-so" inputmode="decimal"></label>
      <label>du <input id="param-du" value="3" inputmode="decimal"></label>
      <label>rt <select id="param-rt">${['', '90', '180', '270'].map(option).join('')}</select></label>
      <button type="submit">Play</button>
    </form>
    <a id="builder-url" href="#" target="_blank" rel="noopener"></a>
  </section>
</div>
<script type="application/json" id="playground-config">${config}</script>
${hlsTag}
<script nonce="${nonce}">${SCRIPT}</script>
</body>
</html>
`;
}

/** Blocks everything the page does not need: no third-party code, no plugins, no framing. */
function contentSecurityPolicy(nonce: string): string {
  return [
    "default-src 'self'",
    `script-src 'self' 'nonce-${nonce}'`,
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
}

const NO_STORE = { 'Cache-Control': 'no-store' };

/**
 * The playground's routes: the page at `<basePath>/playground`, a redirect there from
 * `<basePath>/`, hls.js, the source listing and the signing helper. Mount it before the
 * catch-all delivery route, and only when `PLAYGROUND` is on.
 */
export function createPlaygroundApp(deps: PlaygroundDeps): Hono {
  const app = new Hono();
  const base = deps.basePath;
  const home = `${base}/playground`;

  app.get(base === '' ? '/' : base, (c) => c.redirect(home, 302));
  if (base !== '') app.get(`${base}/`, (c) => c.redirect(home, 302));

  app.get(home, (c) => {
    const nonce = randomBytes(16).toString('base64');
    const html = playgroundPage({
      basePath: base,
      signing: deps.sign !== undefined,
      hlsAvailable: deps.hlsScript !== undefined,
      nonce,
    });
    return c.html(html, 200, {
      ...NO_STORE,
      'Content-Security-Policy': contentSecurityPolicy(nonce),
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
    });
  });

  app.get(`${home}/hls.js`, (c) => {
    if (!deps.hlsScript) {
      return errorResponse(
        new NotFoundError(
          'hls.js is not installed in this build (it is a devDependency, pruned from production images)',
        ),
        c.req.method === 'HEAD',
      );
    }
    return c.body(new Uint8Array(deps.hlsScript), 200, {
      'Content-Type': 'text/javascript; charset=utf-8',
      'Cache-Control': 'public, max-age=86400',
      'X-Content-Type-Options': 'nosniff',
    });
  });

  app.get(`${home}/api/sources`, async (c) => {
    if (!deps.listSources) return c.json({ listable: false, sources: [], truncated: false }, 200, NO_STORE);
    try {
      const listing = await deps.listSources('', SOURCE_LIMIT);
      const sources = [...listing]
        .sort((a, b) => a.path.localeCompare(b.path))
        .map(({ path, size }) => ({ path, size }));
      return c.json({ listable: true, sources, truncated: sources.length >= SOURCE_LIMIT }, 200, NO_STORE);
    } catch (error) {
      return errorResponse(toProxyError(error), c.req.method === 'HEAD');
    }
  });

  app.get(`${home}/api/sign`, (c) => {
    try {
      if (!deps.sign) throw new NotFoundError('No SIGNING_KEY is configured, so URLs need no signature');
      const url = checkSignablePath(c.req.query('url'), base);
      return c.json({ url: deps.sign(url) }, 200, NO_STORE);
    } catch (error) {
      const proxyError = error instanceof ProxyError ? error : toProxyError(error);
      return errorResponse(proxyError, c.req.method === 'HEAD');
    }
  });

  return app;
}
