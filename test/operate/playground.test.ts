import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  checkSignablePath,
  createPlaygroundApp,
  escapeHtml,
  jsonForScript,
  playgroundPage,
} from '../../src/http/playground.js';
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

/** A folder origin with sample.mp4 and a file whose name is an XSS attempt. */
async function makeOrigin(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ikvp-playground-origin-'));
  await copyFile(fixturePath('sample.mp4'), path.join(dir, 'sample.mp4'));
  await writeFile(path.join(dir, HOSTILE_NAME), 'not a video');
  return dir;
}

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

async function openSample(page: Page, proxy: TestProxy): Promise<void> {
  await page.goto(`${proxy.url}/`);
  expect(new URL(page.url()).pathname).toBe('/playground');
  await page.waitForSelector('#source-list option[value="sample.mp4"]', {
    state: 'attached',
    timeout: 15_000,
  });
  await page.selectOption('#source-list', 'sample.mp4');
  await page.waitForFunction(
    () => document.getElementById('metadata')?.textContent?.includes('"duration"'),
    null,
    { timeout: 30_000 },
  );
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
  test('escapeHtml neutralises every character that can open markup or close an attribute', () => {
    expect(escapeHtml(HOSTILE_NAME)).toBe(
      '&quot;&gt;&lt;img src=x onerror=&quot;window.__xss=1&quot;&gt;.mp4',
    );
    expect(escapeHtml("a&b'c")).toBe('a&amp;b&#39;c');
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
    const app = createPlaygroundApp({ basePath: '' });
    const script = await app.request('/playground/hls.js');
    expect(script.status).toBe(404);
    expect(((await script.json()) as { error: { message: string } }).error.message).toMatch(
      /hls\.js is not installed/,
    );
    const page = await (await app.request('/playground')).text();
    expect(page).toContain('id="hls-missing"');
    expect(page).not.toContain('/playground/hls.js"></script>');
    const withScript = playgroundPage({ basePath: '/v', signing: false, hlsAvailable: true, nonce: 'n' });
    expect(withScript).toContain('<script src="/v/playground/hls.js"></script>');
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

  test('the source listing comes from the origin', async () => {
    const proxy = await startProxy({ ORIGIN: origin });
    try {
      const body = (await (await fetch(`${proxy.url}/playground/api/sources`)).json()) as {
        listable: boolean;
        sources: Array<{ path: string; size: number }>;
      };
      expect(body.listable).toBe(true);
      expect(body.sources.map((source) => source.path).sort()).toEqual([HOSTILE_NAME, 'sample.mp4'].sort());
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

  test('lists sources, shows thumbnails, plays HLS and builds a URL that returns 200', {
    timeout: 180_000,
  }, async () => {
    const proxy = await startProxy({ ORIGIN: origin });
    const page = await browser.newPage({ viewport: { width: 1200, height: 1000 } });
    const problems = watchProblems(page);
    try {
      await openSample(page, proxy);
      const options = await page.$$eval('#source-list option', (elements) =>
        elements.map((element) => element.textContent ?? ''),
      );
      expect(options.some((text) => text.startsWith(HOSTILE_NAME))).toBe(true);
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
      expect(sources[5]).toBe(`?tr=so-${Math.floor(metadata.duration * 50) / 100},w-160`);

      await page.waitForFunction(() => (document.getElementById('hls-video')?.currentTime ?? 0) > 1, null, {
        timeout: 90_000,
        polling: 250,
      });
      expect(await page.textContent('#hls-status')).toMatch(/hls\.js|native HLS/);

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

      await mkdir(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: path.join(ARTIFACTS, 'playground.png'), fullPage: true });
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
      await openSample(page, proxy);
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
