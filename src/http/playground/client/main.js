// The playground page's behaviour: a module the proxy serves next to the page (CSP
// `script-src 'self'`, no inline code). Every value that comes from the proxy reaches the DOM
// through `textContent` or a property, never through `innerHTML`, so a hostile file name stays text.
import {
  formatSize,
  normaliseTypedPath,
  sourceUrl,
  thumbnailTimes,
  transformString,
  videoPaths,
} from './urls.js';

/** @typedef {import('./urls.js').SourceEntry} SourceEntry */
/** @typedef {typeof import('hls.js').default} HlsClass */
/** @typedef {import('hls.js').default} HlsPlayer */
/**
 * What the server writes into `#playground-config`.
 * @typedef {{ basePath: string, signing: boolean, hlsAvailable: boolean }} PageConfig
 */

const THUMBNAIL_COUNT = 10;
const THUMBNAIL_WIDTH = 160;
/** The ladder the HLS player streams. */
const HLS_LADDER = 'sr-240_360_720';
/**
 * How many videos the page tries, in listing order, when it opens one by itself: a file can have
 * a video extension and still not be a video, and one bad file must not leave the page empty.
 */
const AUTO_OPEN_ATTEMPTS = 5;
/** The URL builder's fields, in the order their parameters appear in `tr`. */
const FIELDS = ['w', 'h', 'f', 'q', 'so', 'du', 'rt'];

/**
 * The element with `id`, checked to be a `type`: markup that drifted from this script fails at
 * once, naming the id, instead of later on a property of null.
 * @template {HTMLElement} T
 * @param {string} id
 * @param {{ new (): T, prototype: T, name: string }} type
 * @returns {T}
 */
function byId(id, type) {
  const element = document.getElementById(id);
  if (!(element instanceof type)) throw new Error(`#${id} is missing or is not a ${type.name}`);
  return element;
}

/**
 * An input of the URL builder (a text field or a select).
 * @param {string} key
 * @returns {HTMLInputElement | HTMLSelectElement}
 */
function fieldInput(key) {
  const element = document.getElementById(`param-${key}`);
  if (element instanceof HTMLInputElement || element instanceof HTMLSelectElement) return element;
  throw new Error(`#param-${key} is missing or is not an input or a select`);
}

const ui = {
  sourceList: byId('source-list', HTMLSelectElement),
  sourcesStatus: byId('sources-status', HTMLElement),
  sourceForm: byId('source-form', HTMLFormElement),
  sourcePath: byId('source-path', HTMLInputElement),
  currentSource: byId('current-source', HTMLElement),
  metadata: byId('metadata', HTMLElement),
  thumbnails: byId('thumbnails', HTMLElement),
  hlsVideo: byId('hls-video', HTMLVideoElement),
  hlsStatus: byId('hls-status', HTMLElement),
  hlsUrl: byId('hls-url', HTMLElement),
  transformVideo: byId('transform-video', HTMLVideoElement),
  builderStatus: byId('builder-status', HTMLElement),
  builderForm: byId('builder-form', HTMLFormElement),
  builderUrl: byId('builder-url', HTMLAnchorElement),
};
const fields = FIELDS.map((key) => ({ key, input: fieldInput(key) }));

/** @returns {PageConfig} */
function readConfig() {
  const parsed = JSON.parse(byId('playground-config', HTMLScriptElement).text);
  return {
    basePath: typeof parsed.basePath === 'string' ? parsed.basePath : '',
    signing: parsed.signing === true,
    hlsAvailable: parsed.hlsAvailable === true,
  };
}

const config = readConfig();
const base = config.basePath;
/** hls.js, when `/playground/hls.js` loaded it (a classic script that sets `window.Hls`). */
const Hls = /** @type {{ Hls?: HlsClass }} */ (/** @type {unknown} */ (window)).Hls;

/**
 * What is on screen. `generation` grows with every selection, so answers that arrive for a source
 * the user has since left are dropped instead of overwriting the current one.
 * @type {{ source: string | undefined, hls: HlsPlayer | undefined, generation: number, builder: number, autoOpen: boolean }}
 */
const current = { source: undefined, hls: undefined, generation: 0, builder: 0, autoOpen: true };

/** @param {unknown} error */
function messageOf(error) {
  return error instanceof Error ? error.message : String(error);
}

/** @param {HTMLElement} element @param {string} text */
function showNote(element, text) {
  element.textContent = text;
  element.className = 'note';
}

/** @param {HTMLElement} element @param {string} text */
function showError(element, text) {
  element.textContent = text;
  element.className = 'note error';
}

/**
 * `url` as the page may request it: signed by the proxy when it requires signatures (the key
 * stays on the server), unchanged otherwise.
 * @param {string} url
 * @returns {Promise<string>}
 */
async function signed(url) {
  if (!config.signing) return url;
  const response = await fetch(`${base}/playground/api/sign?url=${encodeURIComponent(url)}`);
  if (!response.ok) throw new Error(`signing failed with HTTP ${response.status}`);
  const body = await response.json();
  return String(body.url);
}

/**
 * A JSON answer of the proxy; an error answer becomes an Error with the proxy's message.
 * @param {string} url
 * @returns {Promise<any>}
 */
async function fetchJson(url) {
  const response = await fetch(url);
  const body = await response.json().catch(() => undefined);
  if (!response.ok) throw new Error(body?.error?.message ?? `HTTP ${response.status}`);
  return body;
}

/** @returns {Promise<SourceEntry[]>} */
async function loadSources() {
  try {
    const body = await fetchJson(`${base}/playground/api/sources`);
    if (!body.listable) {
      showNote(ui.sourcesStatus, 'This origin cannot be listed; type a path below.');
      return [];
    }
    /** @type {SourceEntry[]} */
    const sources = body.sources;
    // `new Option(text, value)` sets text, not markup.
    ui.sourceList.replaceChildren(
      ...sources.map((entry) => new Option(`${entry.path}  (${formatSize(entry.size)})`, entry.path)),
    );
    const count = `${sources.length} source(s)`;
    showNote(ui.sourcesStatus, body.truncated ? `${count} (the first ${sources.length})` : count);
    return sources;
  } catch (error) {
    showError(ui.sourcesStatus, `Could not list sources: ${messageOf(error)}`);
    return [];
  }
}

/** Stops and forgets the HLS player of the previous source. */
function stopPlayers() {
  current.hls?.destroy();
  current.hls = undefined;
  for (const video of [ui.hlsVideo, ui.transformVideo]) {
    video.pause();
    video.removeAttribute('src');
    video.load();
  }
  ui.hlsUrl.textContent = '';
  showNote(ui.hlsStatus, '');
}

/**
 * Shows a source: metadata, the HLS player, the thumbnail strip and the transform player.
 * Resolves to whether the source turned out to be a video the proxy can read.
 * @param {string} path
 * @returns {Promise<boolean>}
 */
async function selectSource(path) {
  const generation = ++current.generation;
  current.source = path;
  ui.sourceList.value = path;
  ui.currentSource.textContent = path;
  ui.metadata.textContent = 'loading...';
  ui.thumbnails.replaceChildren();
  stopPlayers();
  let metadata;
  try {
    metadata = await fetchJson(await signed(sourceUrl(base, path, '/ik-metadata.json')));
  } catch (error) {
    if (generation === current.generation) ui.metadata.textContent = `Metadata failed: ${messageOf(error)}`;
    return false;
  }
  if (generation !== current.generation) return false;
  ui.metadata.textContent = JSON.stringify(metadata, null, 2);
  void updateBuilder();
  if (!metadata.width) {
    showError(ui.hlsStatus, 'No video stream: nothing to stream as HLS.');
    return false;
  }
  void playHls(path, generation);
  showThumbnails(path, Number(metadata.duration) || 0, generation);
  void loadTransform(false);
  return true;
}

/**
 * Opens the first video of the listing the proxy can read, trying a few in order. Stops as soon
 * as the user picks a source themselves.
 * @param {readonly SourceEntry[]} sources
 */
async function openFirstVideo(sources) {
  const candidates = videoPaths(sources).slice(0, AUTO_OPEN_ATTEMPTS);
  if (sources.length > 0 && candidates.length === 0) {
    showNote(ui.sourcesStatus, `${sources.length} source(s), none of them a video: pick one to see it.`);
  }
  for (const path of candidates) {
    if (!current.autoOpen || (await selectSource(path))) return;
  }
}

/**
 * @param {string} path
 * @param {number} duration seconds
 * @param {number} generation
 */
function showThumbnails(path, duration, generation) {
  for (const seconds of thumbnailTimes(duration, THUMBNAIL_COUNT)) {
    const image = document.createElement('img');
    image.alt = `frame at ${seconds} s`;
    image.loading = 'eager';
    const caption = document.createElement('figcaption');
    caption.textContent = `${seconds} s`;
    const figure = document.createElement('figure');
    figure.append(image, caption);
    ui.thumbnails.append(figure);
    signed(sourceUrl(base, path, '/ik-thumbnail.jpg', `so-${seconds},w-${THUMBNAIL_WIDTH}`)).then(
      (url) => {
        if (generation === current.generation) image.src = url;
      },
      (error) => {
        caption.textContent = `${seconds} s: ${messageOf(error)}`;
      },
    );
  }
}

/**
 * Video `play()` is refused without a user gesture in some browsers; the controls still work, so
 * a refusal is not an error worth showing.
 * @param {HTMLVideoElement} video
 */
function tryPlay(video) {
  video.play().catch(() => {});
}

/**
 * @param {string} path
 * @param {number} generation
 */
async function playHls(path, generation) {
  const video = ui.hlsVideo;
  try {
    const url = await signed(sourceUrl(base, path, '/ik-master.m3u8', HLS_LADDER));
    if (generation !== current.generation) return;
    ui.hlsUrl.textContent = url;
    if (Hls?.isSupported()) {
      const hls = new Hls();
      current.hls = hls;
      hls.on(Hls.Events.ERROR, (_event, data) => {
        if (data.fatal) showError(ui.hlsStatus, `hls.js error: ${data.type} ${data.details}`);
      });
      hls.on(Hls.Events.MANIFEST_PARSED, (_event, data) => {
        showNote(ui.hlsStatus, `hls.js: ${data.levels.length} rendition(s)`);
        tryPlay(video);
      });
      hls.loadSource(url);
      hls.attachMedia(video);
    } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
      showNote(ui.hlsStatus, 'native HLS');
      video.src = url;
      tryPlay(video);
    } else if (!config.hlsAvailable) {
      showError(
        ui.hlsStatus,
        'HLS playback needs hls.js, which is not installed in this build (it is a devDependency).',
      );
    } else {
      showError(ui.hlsStatus, 'This browser supports neither Media Source Extensions nor native HLS.');
    }
  } catch (error) {
    showError(ui.hlsStatus, messageOf(error));
  }
}

/**
 * Writes the builder's URL for the current source and resolves to it (`''` when there is none or
 * a newer edit superseded this one).
 * @returns {Promise<string>}
 */
async function updateBuilder() {
  const source = current.source;
  if (source === undefined) return '';
  const turn = ++current.builder;
  const tr = transformString(fields.map(({ key, input }) => /** @type {const} */ ([key, input.value])));
  try {
    const url = await signed(sourceUrl(base, source, '', tr));
    if (turn !== current.builder) return '';
    ui.builderUrl.textContent = url;
    ui.builderUrl.href = url;
    showNote(ui.builderStatus, '');
    return url;
  } catch (error) {
    showError(ui.builderStatus, messageOf(error));
    return '';
  }
}

/**
 * Loads the builder's URL into the transform player.
 * @param {boolean} play start playing (a click on Play) or only show the first frame (on open)
 */
async function loadTransform(play) {
  const url = await updateBuilder();
  if (!url) return;
  ui.transformVideo.src = url;
  if (play) tryPlay(ui.transformVideo);
}

ui.sourceList.addEventListener('change', () => {
  current.autoOpen = false;
  if (ui.sourceList.value) void selectSource(ui.sourceList.value);
});
ui.sourceForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const path = normaliseTypedPath(ui.sourcePath.value);
  if (path === '') return;
  current.autoOpen = false;
  void selectSource(path);
});
for (const { input } of fields) input.addEventListener('input', () => void updateBuilder());
ui.builderForm.addEventListener('submit', (event) => {
  event.preventDefault();
  void loadTransform(true);
});

void loadSources().then(openFirstVideo);
