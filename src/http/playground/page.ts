import { html, raw } from 'hono/html';

/** What the page itself needs to know; everything else its script asks the proxy for. */
export interface PlaygroundPageOptions {
  basePath: string;
  /** Whether URLs must be signed through `/playground/api/sign`. */
  signing: boolean;
  /** Whether `/playground/hls.js` serves the player library. */
  hlsAvailable: boolean;
  /** Whether the upload API is on: the page then shows its upload box. */
  uploads?: boolean;
}

/**
 * JSON safe to embed in a `<script type="application/json">`: `<`, `>` and `&` are escaped as
 * JSON unicode escapes, so no value can close the element or open a comment. (HTML escaping would
 * be wrong here: entities are not decoded inside a script element.)
 */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
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
  #upload-zone { border: 2px dashed rgba(127,127,127,.6); padding: .8rem; border-radius: 6px; }
  #upload-zone.over { border-color: #1e88e5; background: rgba(30,136,229,.08); }
  #upload-zone progress { width: 100%; }
  #upload-answer { font-size: .75rem; max-height: 12rem; overflow: auto; background: rgba(127,127,127,.12); padding: .5rem; }
`;

/**
 * `html` from hono/html returns a promise only when a promise is interpolated; this page
 * interpolates none, so anything else is a programming error caught here.
 */
function markup(fragment: ReturnType<typeof html>): string {
  if (fragment instanceof Promise) throw new TypeError('playground markup must not interpolate promises');
  return fragment.toString();
}

function options(values: readonly string[]): string {
  return values.map((value) => markup(html`<option value="${value}">${value || '(none)'}</option>`)).join('');
}

/**
 * The playground page. Pure: the markup, the style and a JSON block with `options`; its code is
 * the `client/main.js` module (and hls.js) served by the playground routes. Every interpolated
 * value is HTML-escaped by `html`.
 */
export function playgroundPage(opts: PlaygroundPageOptions): string {
  const base = opts.basePath;
  const config = jsonForScript({
    basePath: opts.basePath,
    signing: opts.signing,
    hlsAvailable: opts.hlsAvailable,
  });
  // The classic hls.js script runs before the module (modules are deferred), so `window.Hls` is
  // set by the time main.js looks for it.
  const hlsTag = opts.hlsAvailable ? html`<script src="${base}/playground/hls.js"></script>` : '';
  const hlsNote = opts.hlsAvailable
    ? ''
    : html`<p class="note error" id="hls-missing">hls.js is not installed in this build (it is a devDependency), so the HLS player works only in browsers with native HLS.</p>`;
  const signingNote = opts.signing ? ' URLs are signed by the proxy; the key never reaches this page.' : '';
  const uploadBox = opts.uploads
    ? html`<h2>Upload</h2>
<div id="upload-zone">
  <p class="note">Drop a video here or pick one. It is posted to <code>${base}/api/v1/files/upload</code> with the private API key below (kept in this tab only).</p>
  <input id="upload-key" type="password" placeholder="API_PRIVATE_KEY" aria-label="private API key" autocomplete="off">
  <input id="upload-folder" placeholder="folder (optional)" aria-label="folder">
  <input id="upload-file" type="file" accept="video/*,audio/*,image/*,.vtt,.srt" aria-label="file to upload">
  <progress id="upload-progress" value="0" max="1"></progress>
  <p class="note" id="upload-status"></p>
  <video id="upload-video" controls muted playsinline></video>
  <pre id="upload-answer"></pre>
</div>
<script type="module" src="${base}/playground/client/upload.js"></script>`
    : '';
  return markup(html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ik-video-proxy playground</title>
<style>${raw(STYLE)}</style>
</head>
<body>
<h1>ik-video-proxy playground</h1>
<p class="note">Pick a source, look at its metadata and frames, play its HLS ladder, and build a transform URL.${signingNote}</p>
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
        <video id="transform-video" controls muted playsinline preload="metadata"></video>
        <p class="note" id="builder-status"></p>
      </div>
    </div>
    <h2>URL builder</h2>
    <form id="builder-form" class="builder">
      <label>w <input id="param-w" value="640" inputmode="numeric"></label>
      <label>h <input id="param-h" inputmode="numeric"></label>
      <label>f <select id="param-f">${raw(options(['', 'mp4', 'webm', 'auto']))}</select></label>
      <label>q <input id="param-q" inputmode="numeric"></label>
      <label>so <input id="param-so" inputmode="decimal"></label>
      <label>du <input id="param-du" value="3" inputmode="decimal"></label>
      <label>rt <select id="param-rt">${raw(options(['', '90', '180', '270']))}</select></label>
      <button type="submit">Play</button>
    </form>
    <a id="builder-url" href="#" target="_blank" rel="noopener"></a>
  </section>
</div>
<script type="application/json" id="playground-config">${raw(config)}</script>
${hlsTag}
<script type="module" src="${base}/playground/client/main.js"></script>
${uploadBox}
</body>
</html>
`);
}
