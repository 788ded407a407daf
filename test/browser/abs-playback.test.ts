import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { hasChromium, launchChromium } from '../support/browser.js';
import { ensureLargeFixture, REPO_ROOT } from '../support/fixtures.js';
import { startProxy, type TestProxy } from '../support/proxy.js';

/**
 * Real players in a real browser: hls.js and dash.js in headless Debian Chromium play the proxy's
 * on-demand HLS and DASH streams of a 1080p source, list every rendition, and resume after a seek
 * to 70 %. The page is served from its own origin, so the proxy's CORS headers are exercised too.
 */

const LADDER = 'sr-240_360_720';
const EXPECTED_HEIGHTS = [240, 360, 720];
const START_TIMEOUT_MS = 20_000;
// Resuming costs the segment at the target plus whatever encodes are already running (the
// aborted ones and a prefetch keep their job slots): ~5 s on an idle 2-core machine, more when
// other suites share the CPU.
const RESUME_TIMEOUT_MS = 15_000;

const HLS_SCRIPT = path.join(REPO_ROOT, 'node_modules/hls.js/dist/hls.min.js');
// The UMD build assigns `self.dashjs`, so a plain <script> tag exposes it.
const DASH_SCRIPT = path.join(REPO_ROOT, 'node_modules/dashjs/dist/modern/umd/dash.all.min.js');

/**
 * The player page. `?player=hls|dash&src=<manifest URL>`. It reports through `window.__state`:
 * the renditions the player lists, every player error, and the first fatal one.
 */
const PLAYER_PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>abs playback</title></head>
<body>
<video id="video" muted playsinline width="640" height="360"></video>
<script src="/hls.js"></script>
<script src="/dash.js"></script>
<script>
  const query = new URLSearchParams(location.search);
  const video = document.getElementById('video');
  const state = { fatal: null, errors: [], heights: [], ready: false };
  window.__state = state;
  const fail = (message) => { state.errors.push(message); if (state.fatal === null) state.fatal = message; };
  video.addEventListener('error', () => fail('media element: ' + (video.error && video.error.message)));
  video.muted = true;
  const src = query.get('src');
  if (query.get('player') === 'hls') {
    const hls = new Hls();
    window.__player = hls;
    hls.on(Hls.Events.ERROR, (_event, data) => {
      const where = data.frag ? ' ' + data.frag.type + ' level ' + data.frag.level + ' sn ' + data.frag.sn : '';
      const message = 'hls.js ' + data.type + ' ' + data.details + where + (data.fatal ? ' (fatal)' : '');
      if (data.fatal) fail(message); else state.errors.push(message);
    });
    hls.on(Hls.Events.MANIFEST_PARSED, () => {
      state.heights = hls.levels.map((level) => level.height);
      state.ready = true;
      video.play().catch((error) => fail('play(): ' + error.message));
    });
    hls.loadSource(src);
    hls.attachMedia(video);
  } else {
    const player = dashjs.MediaPlayer().create();
    window.__player = player;
    player.updateSettings({ debug: { logLevel: dashjs.Debug.LOG_LEVEL_WARNING } });
    player.on(dashjs.MediaPlayer.events.ERROR, (event) => fail('dash.js error ' + JSON.stringify(event.error)));
    player.on(dashjs.MediaPlayer.events.PLAYBACK_ERROR, (event) => fail('dash.js playback ' + JSON.stringify(event.error)));
    player.on(dashjs.MediaPlayer.events.STREAM_INITIALIZED, () => {
      state.heights = player.getRepresentationsByType('video').map((representation) => representation.height);
      state.ready = true;
    });
    player.initialize(video, src, true);
  }
</script>
</body></html>`;

/** Serves the player page and the two player bundles on its own loopback origin. */
async function startPageServer(): Promise<{ url: string; server: Server }> {
  const [hls, dash] = await Promise.all([readFile(HLS_SCRIPT), readFile(DASH_SCRIPT)]);
  const server = createServer((request, response) => {
    const pathname = new URL(request.url ?? '/', 'http://localhost').pathname;
    const bodies: Record<string, [string, string | Buffer]> = {
      '/player.html': ['text/html; charset=utf-8', PLAYER_PAGE],
      '/hls.js': ['text/javascript', hls],
      '/dash.js': ['text/javascript', dash],
    };
    const found = bodies[pathname];
    if (!found) {
      response.writeHead(pathname === '/favicon.ico' ? 204 : 404).end();
      return;
    }
    response.writeHead(200, { 'Content-Type': found[0], 'Cache-Control': 'no-store' }).end(found[1]);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

interface PlayerState {
  fatal: string | null;
  errors: string[];
  heights: number[];
  ready: boolean;
}

interface PlaybackReport {
  heights: number[];
  startSeconds: number;
  seekTarget: number;
  resumeSeconds: number;
  playerErrors: string[];
  consoleErrors: string[];
  segmentsRequested: string[];
}

/** `message xN` for each distinct message, so a player's retry loop reads as one line. */
function countDistinct(messages: string[]): string[] {
  const counts = new Map<string, number>();
  for (const message of messages) counts.set(message, (counts.get(message) ?? 0) + 1);
  return [...counts].map(([message, count]) => (count > 1 ? `${message} x${count}` : message));
}

const playerState = (page: Page) => page.evaluate<PlayerState>('window.__state');
const currentTime = (page: Page) => page.evaluate<number>('document.getElementById("video").currentTime');

/**
 * Waits until `condition` (a page expression) holds or the player reports a fatal error, and
 * fails with the player's own errors when it times out.
 */
async function waitForPlayback(
  page: Page,
  condition: string,
  timeoutMs: number,
  what: string,
): Promise<void> {
  try {
    await page.waitForFunction(
      `window.__state && (window.__state.fatal !== null || (${condition}))`,
      undefined,
      {
        timeout: timeoutMs,
        polling: 100,
      },
    );
  } catch (error) {
    const state = await playerState(page);
    throw new Error(
      `${what} did not happen within ${timeoutMs} ms (currentTime ${await currentTime(page)}); player errors: ${JSON.stringify(countDistinct(state.errors))}; ${(error as Error).message}`,
    );
  }
  const state = await playerState(page);
  expect(
    state.fatal,
    `${what}: fatal player error; all errors: ${JSON.stringify(countDistinct(state.errors))}`,
  ).toBeNull();
}

/** Plays `manifestUrl` with `player`, seeks to 70 % and reports what happened. */
async function playAndSeek(
  browser: Browser,
  pageOrigin: string,
  player: 'hls' | 'dash',
  manifestUrl: string,
): Promise<PlaybackReport> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const consoleErrors: string[] = [];
  const segmentsRequested: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => consoleErrors.push(`uncaught: ${error.message}`));
  page.on('request', (request) => {
    const match = /\/ik-abs\/(\w+)\/(seg-\d+)\.m4s/.exec(request.url());
    if (match) segmentsRequested.push(`${match[1]}/${match[2]}`);
  });
  try {
    await page.goto(`${pageOrigin}/player.html?player=${player}&src=${encodeURIComponent(manifestUrl)}`);
    const codecSupport = await page.evaluate<boolean>(
      `MediaSource.isTypeSupported('video/mp4; codecs="avc1.64001f,mp4a.40.2"')`,
    );
    expect(codecSupport, 'this Chromium cannot play H.264/AAC through MSE').toBe(true);

    const started = performance.now();
    await waitForPlayback(
      page,
      'document.getElementById("video").currentTime > 3',
      START_TIMEOUT_MS,
      'playback to 3 s',
    );
    const startSeconds = (performance.now() - started) / 1000;
    const { heights } = await playerState(page);

    const duration = await page.evaluate<number>('document.getElementById("video").duration');
    expect(duration).toBeGreaterThan(59);
    expect(duration).toBeLessThan(61);
    const seekTarget = Math.round(duration * 0.7 * 1000) / 1000;
    await page.evaluate(`document.getElementById("video").currentTime = ${seekTarget}`);
    const seeked = performance.now();
    await waitForPlayback(
      page,
      `document.getElementById("video").currentTime > ${seekTarget + 1}`,
      RESUME_TIMEOUT_MS,
      `resuming after the seek to ${seekTarget} s`,
    );
    const resumeSeconds = (performance.now() - seeked) / 1000;
    const { errors } = await playerState(page);
    return {
      heights,
      startSeconds,
      seekTarget,
      resumeSeconds,
      playerErrors: countDistinct(errors),
      consoleErrors,
      segmentsRequested,
    };
  } finally {
    await context.close();
  }
}

describe.skipIf(!hasChromium)('adaptive streams play in headless Chromium', () => {
  let browser: Browser;
  let pageServer: { url: string; server: Server };
  let workDir: string;
  let originDir: string;

  beforeAll(async () => {
    workDir = await mkdtemp(path.join(os.tmpdir(), 'ikvp-abs-browser-'));
    originDir = path.join(workDir, 'origin');
    await mkdir(originDir);
    const [large] = await Promise.all([
      ensureLargeFixture(),
      startPageServer().then((s) => (pageServer = s)),
    ]);
    await copyFile(large, path.join(originDir, 'large.mp4'));
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    if (pageServer) await new Promise<void>((resolve) => pageServer.server.close(() => resolve()));
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  /** dash.js's own ABR race after a seek (see the use below), not a fault of the stream. */
  const DASHJS_ABR_SEEK_RACE = /^uncaught: Cannot read properties of null \(reading 'absoluteIndex'\)$/;

  // Each player gets a fresh proxy (and cache), so every segment it plays is encoded on demand.
  test.each([
    ['hls', 'ik-master.m3u8'],
    ['dash', 'ik-master.mpd'],
  ] as const)(
    '%s plays the ladder, lists its 3 renditions and resumes after a seek to 70 %%',
    async (player, manifest) => {
      const proxy: TestProxy = await startProxy({ ORIGIN: originDir });
      try {
        const report = await playAndSeek(
          browser,
          pageServer.url,
          player,
          `${proxy.url}/large.mp4/${manifest}?tr=${LADDER}`,
        );
        console.info(`[${player}] ${JSON.stringify(report)}`);
        expect([...report.heights].sort((a, b) => a - b)).toEqual(EXPECTED_HEIGHTS);
        // dash.js 5's ABR rules occasionally read the representation of a request a seek has just
        // cancelled (`null.absoluteIndex`), inside the player, whatever the server answered (seen
        // once in CI under load, with the seek served and playback resumed). Every other uncaught
        // error still fails the test.
        const uncaught = report.consoleErrors.filter(
          (line) => line.startsWith('uncaught:') && !DASHJS_ABR_SEEK_RACE.test(line),
        );
        expect(uncaught).toEqual([]);
        // The seek must have been served from the segment at 70 %, not by playing through to it.
        const seekSegment = `seg-${Math.floor(report.seekTarget / 4)}`;
        expect(report.segmentsRequested.some((segment) => segment.endsWith(`/${seekSegment}`))).toBe(true);
      } finally {
        await proxy.close();
      }
    },
    60_000,
  );
});
