import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { thumbnailTimes } from '../../src/http/playground/client/urls.js';
import {
  checkSignablePath,
  createPlaygroundApp,
  jsonForScript,
  loadPlaygroundAssets,
  type PlaygroundAssets,
  playgroundPage,
  playgroundSources,
} from '../../src/http/playground/index.js';
import { hasChromium, launchChromium } from '../support/browser.js';
import { fixturePath, REPO_ROOT } from '../support/fixtures.js';
import { startProxy, type TestProxy } from '../support/proxy.js';

/**
 * The few browser globals the `page.evaluate` callbacks touch, declared here because the
 * project's tsconfig has no DOM lib (the callbacks run in Chromium, not in Node).
 */
interface BrowserNode {
  textContent: string | null;
  tagName: string;
  complete: boolean;
  naturalWidth: number;
  src: string;
  currentTime: number;
  readyState: number;
  videoWidth: number;
  videoHeight: number;
  duration: number;
  value: string;
}
declare const document: {
  getElementById(id: string): BrowserNode | null;
  querySelectorAll(selector: string): ArrayLike<BrowserNode> & Iterable<BrowserNode>;
};
declare const window: { __xss?: number };

const ARTIFACTS = path.join(REPO_ROOT, 'test-artifacts');
/** A file name that would run script if the page ever put a listing into HTML unescaped. */
const HOSTILE_NAME = '"><img src=x onerror="window.__xss=1">.mp4';
const SIGNING_KEY = 'playground-test-key-0123456789';

/**
 * A folder origin: sample.mp4, an audio-only source, files the proxy cannot serve (a manifest,
 * a text file), and a `.mp4` whose name is an XSS attempt and whose bytes are not a video. The
 * hostile name sorts first, so the page must also skip a "video" that does not probe.
 */
async function makeOrigin(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ikvp-playground-origin-'));
  await copyFile(fixturePath('sample.mp4'), path.join(dir, 'sample.mp4'));
  await copyFile(fixturePath('audio-only.m4a'), path.join(dir, 'audio-only.m4a'));
  await writeFile(path.join(dir, HOSTILE_NAME), 'not a video');
  await writeFile(path.join(dir, 'manifest.json'), '{}');
  await writeFile(path.join(dir, 'not-a-video.txt'), 'text');
  return dir;
}

/** What the listing must hold for `makeOrigin`'s folder: media only, sorted by path. */
const LISTED = [HOSTILE_NAME, 'audio-only.m4a', 'sample.mp4'];

async function launch(): Promise<Browser> {
  return launchChromium();
}

/** Page errors and CSP violations seen while a test ran; both mean the page is broken. */
function watchProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' && /Content Security Policy|Refused to/i.test(message.text()))
      problems.push(message.text());
  });
  return problems;
}

/**
 * Loads the page from `/` and waits, without touching anything, until it has opened a video by
 * itself: the first listed video that probes, which for `makeOrigin`'s folder is sample.mp4.
 */
async function openPage(page: Page, proxy: TestProxy): Promise<void> {
  await page.goto(`${proxy.url}/`);
  expect(new URL(page.url()).pathname).toBe('/playground');
  await page.waitForFunction(
    () => document.getElementById('metadata')?.textContent?.includes('"duration"'),
    null,
    { timeout: 30_000 },
  );
  expect(await page.textContent('#current-source')).toBe('sample.mp4');
  expect(await page.$eval('#source-list', (list) => (list as unknown as BrowserNode).value)).toBe(
    'sample.mp4',
  );
}

/** Waits until a player has loaded enough of its stream to know the duration; returns it. */
async function waitForDuration(page: Page, id: string): Promise<number> {
  await page.waitForFunction(
    (element) => {
      const duration = (document.getElementById(element) as BrowserNode | null)?.duration ?? Number.NaN;
      return Number.isFinite(duration) && duration > 0;
    },
    id,
    { timeout: 90_000, polling: 250 },
  );
  return page.$eval(`#${id}`, (video) => (video as unknown as BrowserNode).duration);
}

async function waitForThumbnails(page: Page): Promise<number[]> {
  await page.waitForFunction(
    () => {
      const images = [...document.querySelectorAll('#thumbnails img')];
      return images.length === 10 && images.every((image) => image.complete && image.naturalWidth > 0);
    },
    null,
    { timeout: 60_000, polling: 250 },
  );
  return page.$$eval('#thumbnails img', (images) =>
    (images as unknown as BrowserNode[]).map((image) => image.naturalWidth),
  );
}

async function buildUrl(page: Page, values: Record<string, string>): Promise<string> {
  for (const [key, value] of Object.entries(values)) {
    const selector = `#param-${key}`;
    const tag = await page.$eval(selector, (element) => element.tagName);
    if (tag === 'SELECT') await page.selectOption(selector, value);
    else await page.fill(selector, value);
  }
  const expected = Object.entries(values)
    .filter(([, value]) => value !== '')
    .map(([key, value]) => `${key}-${value}`);
  await page.waitForFunction(
    (parts) => parts.every((part) => document.getElementById('builder-url')?.textContent?.includes(part)),
    expected,
    {
      timeout: 10_000,
    },
  );
  return (await page.textContent('#builder-url')) ?? '';
}

describe('playground page helpers', () => {
  let assets: PlaygroundAssets;
  beforeAll(async () => {
    assets = await loadPlaygroundAssets();
  });

  test('the page escapes what it interpolates and runs no inline script', () => {
    const page = playgroundPage({ basePath: '/v"><b>x', signing: false, hlsAvailable: true });
    expect(page).toContain('src="/v&quot;&gt;&lt;b&gt;x/playground/client/main.js"');
    expect(page).not.toContain('<b>x');
    // Only a JSON data block is inline; every <script> that runs has a src on this proxy.
    const scripts = [...page.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.map((match) => match[1]!.trim())).toEqual([
      'type="application/json" id="playground-config"',
      'src="/v&quot;&gt;&lt;b&gt;x/playground/hls.js"',
      'type="module" src="/v&quot;&gt;&lt;b&gt;x/playground/client/main.js"',
    ]);
    expect(JSON.parse(scripts[0]![2]!)).toEqual({ basePath: '/v"><b>x', signing: false, hlsAvailable: true });
  });

  test('jsonForScript cannot close its script element and still parses to the same value', () => {
    const value = { basePath: '/v</script><script>alert(1)</script>', x: 'a&b\u2028' };
    const text = jsonForScript(value);
    expect(text).not.toMatch(/[<>&\u2028]/);
    expect(JSON.parse(text)).toEqual(value);
  });

  test('the sign route accepts only paths on this proxy', () => {
    expect(checkSignablePath('/sample.mp4?tr=w-300', '')).toBe('/sample.mp4?tr=w-300');
    expect(checkSignablePath('/v/sample.mp4', '/v')).toBe('/v/sample.mp4');
    for (const bad of [
      'https://evil.example/a.mp4',
      '//evil.example/a.mp4',
      '/\\evil.example/a.mp4',
      'a.mp4',
      'javascript:alert(1)',
      '',
      '/a b.mp4',
    ]) {
      expect(() => checkSignablePath(bad, ''), bad).toThrow(/url/);
    }
    expect(() => checkSignablePath('/other/a.mp4', '/v')).toThrow(/start with \/v\//);
  });

  test('without hls.js the script route is a JSON 404 and the page says HLS needs it', async () => {
    const app = createPlaygroundApp({ basePath: '', assets: { client: assets.client } });
    const script = await app.request('/playground/hls.js');
    expect(script.status).toBe(404);
    expect(((await script.json()) as { error: { message: string } }).error.message).toMatch(
      /hls\.js is not installed/,
    );
    const page = await (await app.request('/playground')).text();
    expect(page).toContain('id="hls-missing"');
    expect(page).not.toContain('/playground/hls.js"></script>');
    const withScript = playgroundPage({ basePath: '/v', signing: false, hlsAvailable: true });
    expect(withScript).toContain('<script src="/v/playground/hls.js"></script>');
  });

  test('the browser modules are served as JavaScript from the files in src; nothing else is', async () => {
    const app = createPlaygroundApp({ basePath: '/v', assets });
    const page = await app.request('/v/playground');
    expect(page.headers.get('content-security-policy')).toMatch(/script-src 'self';/);
    for (const name of ['main.js', 'urls.js']) {
      const response = await app.request(`/v/playground/client/${name}`);
      expect(response.status, name).toBe(200);
      expect(response.headers.get('content-type'), name).toMatch(/^text\/javascript/);
      expect(await response.text(), name).toBe(
        await readFile(path.join(REPO_ROOT, 'src/http/playground/client', name), 'utf8'),
      );
    }
    for (const bad of ['urls.test.ts', '..%2Findex.ts', 'nope.js']) {
      expect((await app.request(`/v/playground/client/${bad}`)).status, bad).toBe(404);
    }
  });

  test('the listing keeps media sources only, sorted, and says when it was cut', () => {
    const listing = [
      { path: 'b.mp4', size: 2 },
      { path: 'manifest.json', size: 1 },
      { path: 'notes/not-a-video.txt', size: 1 },
      { path: 'a/song.m4a', size: 3 },
      { path: 'poster.jpg', size: 1 },
      { path: 'ik-master.m3u8', size: 1 },
      { path: 'A.webm', size: 4 },
    ];
    expect(playgroundSources(listing, 10)).toEqual({
      sources: [
        { path: 'A.webm', size: 4, type: 'video/webm' },
        { path: 'a/song.m4a', size: 3, type: 'audio/mp4' },
        { path: 'b.mp4', size: 2, type: 'video/mp4' },
      ],
      truncated: false,
    });
    expect(playgroundSources(listing, 2)).toMatchObject({ truncated: true });
    expect(playgroundSources(listing, 2).sources).toHaveLength(2);
  });
});

describe('playground routes', () => {
  let origin: string;
  beforeAll(async () => {
    origin = await makeOrigin();
  });
  afterAll(async () => {
    await rm(origin, { recursive: true, force: true });
  });

  test('unset PLAYGROUND is off when SIGNING_KEY is set (its sign helper would sign anything)', async () => {
    const proxy = await startProxy({ ORIGIN: origin, SIGNING_KEY });
    try {
      expect((await fetch(`${proxy.url}/playground`)).status).toBe(404);
      expect((await fetch(`${proxy.url}/playground/api/sign?url=/sample.mp4`)).status).toBe(404);
    } finally {
      await proxy.close();
    }
  });

  test('PLAYGROUND=false removes the page, the redirect and the sign route', async () => {
    const proxy = await startProxy({ ORIGIN: origin, PLAYGROUND: 'false', SIGNING_KEY });
    try {
      const root = await fetch(`${proxy.url}/`, { redirect: 'manual' });
      // Without the playground `/` is just a request with no source path: an error, not a redirect.
      expect(root.status).toBeGreaterThanOrEqual(400);
      expect(root.headers.get('location')).toBeNull();
      for (const route of [
        '/playground',
        '/playground/hls.js',
        '/playground/api/sources',
        '/playground/api/sign?url=/sample.mp4',
      ]) {
        const response = await fetch(proxy.url + route);
        expect(response.status, route).toBe(404);
        expect(await response.text(), route).not.toMatch(/ik-s=/);
      }
    } finally {
      await proxy.close();
    }
  });

  test('the sign route signs paths the proxy then accepts, refuses absolute URLs, and the page never holds the key', async () => {
    const proxy = await startProxy({
      ORIGIN: origin,
      SIGNING_KEY,
      REQUIRE_SIGNED_URLS: 'true',
      PLAYGROUND: 'true',
    });
    try {
      const page = await (await fetch(`${proxy.url}/playground`)).text();
      expect(page).not.toContain(SIGNING_KEY);
      expect(page).toContain('"signing":true');
      const unsigned = '/sample.mp4/ik-metadata.json';
      expect((await fetch(proxy.url + unsigned)).status).toBe(401);
      const signResponse = await fetch(
        `${proxy.url}/playground/api/sign?url=${encodeURIComponent(unsigned)}`,
      );
      expect(signResponse.headers.get('cache-control')).toBe('no-store');
      const { url } = (await signResponse.json()) as { url: string };
      expect(url).toMatch(/^\/sample\.mp4\/ik-metadata\.json\?ik-s=[0-9a-f]{40}$/);
      expect((await fetch(proxy.url + url)).status).toBe(200);
      const absolute = await fetch(
        `${proxy.url}/playground/api/sign?url=${encodeURIComponent('https://evil.example/a.mp4')}`,
      );
      expect(absolute.status).toBe(400);
    } finally {
      await proxy.close();
    }
  });

  test('the source listing comes from the origin and holds only media files', async () => {
    const proxy = await startProxy({ ORIGIN: origin });
    try {
      const body = (await (await fetch(`${proxy.url}/playground/api/sources`)).json()) as {
        listable: boolean;
        sources: Array<{ path: string; size: number; type: string }>;
      };
      expect(body.listable).toBe(true);
      expect(body.sources.map((source) => source.path)).toEqual(LISTED);
      expect(body.sources.map((source) => source.type)).toEqual(['video/mp4', 'audio/mp4', 'video/mp4']);
    } finally {
      await proxy.close();
    }
  });
});

describe.skipIf(!hasChromium)('playground in headless Chromium', () => {
  let browser: Browser;
  let origin: string;
  beforeAll(async () => {
    origin = await makeOrigin();
    browser = await launch();
  });
  afterAll(async () => {
    await browser?.close();
    await rm(origin, { recursive: true, force: true });
  });

  test('opens on the first video with its frames and players loaded, lists media only, builds a URL that returns 200', {
    timeout: 180_000,
  }, async () => {
    const proxy = await startProxy({ ORIGIN: origin });
    const page = await browser.newPage({ viewport: { width: 1200, height: 1000 } });
    const problems = watchProblems(page);
    try {
      await openPage(page, proxy);
      const options = await page.$$eval('#source-list option', (elements) =>
        elements.map((element) => (element as unknown as BrowserNode).value),
      );
      expect(options).toEqual(LISTED);
      expect(await page.evaluate(() => window.__xss)).toBeUndefined();

      const metadata = JSON.parse((await page.textContent('#metadata')) ?? '{}') as {
        width: number;
        duration: number;
      };
      expect(metadata.width).toBe(1280);

      const widths = await waitForThumbnails(page);
      expect(widths).toEqual(Array(10).fill(160));
      const sources = await page.$$eval('#thumbnails img', (images) =>
        (images as unknown as BrowserNode[]).map((image) => new URL(image.src).search),
      );
      expect(sources).toEqual(thumbnailTimes(metadata.duration, 10).map((at) => `?tr=so-${at},w-160`));
      expect(sources[5]).toBe(`?tr=so-${Math.floor(metadata.duration * 50) / 100},w-160`);

      // Both players were loaded on open, with no click: HLS plays, the transform shows its clip.
      expect(Math.abs((await waitForDuration(page, 'hls-video')) - metadata.duration)).toBeLessThan(0.5);
      await page.waitForFunction(() => (document.getElementById('hls-video')?.currentTime ?? 0) > 1, null, {
        timeout: 90_000,
        polling: 250,
      });
      expect(await page.textContent('#hls-status')).toMatch(/hls\.js|native HLS/);
      // The transform streams as fragmented MP4 while it encodes, so its duration grows as it
      // arrives; what matters here is that the clip was requested and its first frame decoded.
      expect(await waitForDuration(page, 'transform-video')).toBeGreaterThan(0);
      await page.waitForFunction(
        () => (document.getElementById('transform-video')?.readyState ?? 0) >= 2,
        null,
        { timeout: 60_000 },
      );
      expect(
        await page.$eval('#transform-video', (video) => (video as unknown as BrowserNode).videoWidth),
      ).toBe(640);
      expect(await page.textContent('#builder-url')).toBe('/sample.mp4?tr=w-640,du-3');

      await mkdir(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: path.join(ARTIFACTS, 'playground.png'), fullPage: true });

      const builderUrl = await buildUrl(page, {
        w: '320',
        h: '',
        f: 'mp4',
        q: '60',
        so: '1',
        du: '2',
        rt: '90',
      });
      expect(builderUrl).toBe('/sample.mp4?tr=w-320,f-mp4,q-60,so-1,du-2,rt-90');
      await page.click('#builder-form button[type="submit"]');
      const fetched = await fetch(proxy.url + builderUrl);
      expect(fetched.status).toBe(200);
      expect(fetched.headers.get('content-type')).toMatch(/^video\/mp4/);
      expect((await fetched.arrayBuffer()).byteLength).toBeGreaterThan(1000);
      await page.waitForFunction(
        () => (document.getElementById('transform-video')?.readyState ?? 0) >= 2,
        null,
        { timeout: 60_000 },
      );
      // rt-90 turns the 16:9 source portrait before w-320 applies.
      const size = await page.$eval('#transform-video', (video) => [
        (video as unknown as BrowserNode).videoWidth,
        (video as unknown as BrowserNode).videoHeight,
      ]);
      expect(size[0]).toBe(320);
      expect(size[1]).toBeGreaterThan(560);

      expect(problems).toEqual([]);
    } finally {
      await page.close();
      await proxy.close();
    }
  });

  test('with REQUIRE_SIGNED_URLS every URL the page uses is signed by the proxy', {
    timeout: 180_000,
  }, async () => {
    const proxy = await startProxy({
      ORIGIN: origin,
      SIGNING_KEY,
      REQUIRE_SIGNED_URLS: 'true',
      PLAYGROUND: 'true',
    });
    const page = await browser.newPage();
    const problems = watchProblems(page);
    try {
      await openPage(page, proxy);
      await waitForThumbnails(page);
      const builderUrl = await buildUrl(page, { w: '240', du: '1' });
      expect(builderUrl).toMatch(/^\/sample\.mp4\?tr=w-240,du-1&ik-s=[0-9a-f]{40}$/);
      expect((await fetch(proxy.url + builderUrl)).status).toBe(200);
      expect((await fetch(proxy.url + builderUrl.replace(/&ik-s=.*/, ''))).status).toBe(401);
      await page.waitForFunction(() => (document.getElementById('hls-video')?.currentTime ?? 0) > 1, null, {
        timeout: 90_000,
        polling: 250,
      });
      expect(await page.content()).not.toContain(SIGNING_KEY);
      expect(problems).toEqual([]);
    } finally {
      await page.close();
      await proxy.close();
    }
  });
});
