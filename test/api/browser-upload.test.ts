import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { signUploadToken } from '../../src/api/auth.js';
import { hasChromium, launchChromium } from '../support/browser.js';
import { fixturePath, REPO_ROOT } from '../support/fixtures.js';
import { startProxy, type TestProxy } from '../support/proxy.js';

const PRIVATE_KEY = 'browser_private_key';
const PUBLIC_KEY = 'browser_public_key';

/**
 * A customer's site on another origin: a page, ImageKit's browser SDK, a video to upload, and
 * `/auth`, the backend endpoint that signs one upload token per call (as ImageKit's docs show).
 */
async function customerSite(proxyUrl: string): Promise<{ url: string; server: Server; tokens: string[] }> {
  const sdk = await readFile(path.join(REPO_ROOT, 'node_modules/@imagekit/javascript/dist/imagekit.esm.js'));
  const video = await readFile(fixturePath('sample.mp4'));
  const tokens: string[] = [];
  const page = `<!doctype html><html><body><video id="v" muted playsinline></video><script type="module">
import { upload } from '/sdk.js';
window.runUpload = async () => {
  const auth = await (await fetch('/auth')).json();
  const blob = await (await fetch('/sample.mp4')).blob();
  const file = new File([blob], 'from-browser.mp4', { type: 'video/mp4' });
  // The SDK posts to ImageKit's upload host; a customer points it at the proxy with its own XHR.
  const xhr = new XMLHttpRequest();
  const open = xhr.open.bind(xhr);
  xhr.open = (method) => open(method, ${JSON.stringify(`${proxyUrl}/api/v1/files/upload`)});
  const progress = [];
  const result = await upload({
    file, fileName: 'from-browser.mp4', folder: 'browser', tags: ['web'],
    publicKey: ${JSON.stringify(PUBLIC_KEY)}, token: auth.token, expire: auth.expire, signature: auth.signature,
    xhr, onProgress: (event) => progress.push(event.loaded),
  });
  const v = document.getElementById('v');
  v.src = result.url;
  await new Promise((resolve, reject) => { v.onloadedmetadata = resolve; v.onerror = () => reject(new Error('video error')); });
  return { result, progress, videoWidth: v.videoWidth, duration: v.duration, auth };
};
window.reuseToken = async (auth) => {
  const xhr = new XMLHttpRequest();
  const open = xhr.open.bind(xhr);
  xhr.open = (method) => open(method, ${JSON.stringify(`${proxyUrl}/api/v1/files/upload`)});
  try {
    await upload({ file: new File(['x'], 'x.mp4'), fileName: 'x.mp4', publicKey: ${JSON.stringify(PUBLIC_KEY)}, ...auth, xhr });
    return 'accepted';
  } catch (error) { return String(error.message); }
};
</script></body></html>`;
  const server = createServer((req, res) => {
    if (req.url === '/') res.writeHead(200, { 'Content-Type': 'text/html' }).end(page);
    else if (req.url === '/sdk.js') res.writeHead(200, { 'Content-Type': 'text/javascript' }).end(sdk);
    else if (req.url === '/sample.mp4') res.writeHead(200, { 'Content-Type': 'video/mp4' }).end(video);
    else if (req.url === '/auth') {
      const token = randomUUID();
      tokens.push(token);
      const expire = Math.floor(Date.now() / 1000) + 600;
      res
        .writeHead(200, { 'Content-Type': 'application/json' })
        .end(JSON.stringify({ token, expire, signature: signUploadToken(PRIVATE_KEY, token, expire) }));
    } else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, tokens };
}

describe.skipIf(!hasChromium)('@imagekit/javascript upload() from a page in Chromium, token auth', () => {
  let root: string;
  let proxy: TestProxy;
  let site: Awaited<ReturnType<typeof customerSite>>;
  let browser: Browser;

  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'api-browser-'));
    proxy = await startProxy({ ORIGIN: root, API_PRIVATE_KEY: PRIVATE_KEY, API_PUBLIC_KEY: PUBLIC_KEY });
    site = await customerSite(proxy.url);
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    site?.server.close();
    await proxy?.close();
    await rm(root, { recursive: true, force: true });
  });

  test('uploads cross-origin with progress, and the returned url plays', async () => {
    const page = await browser.newPage();
    await page.goto(site.url);
    const outcome = (await page.evaluate('window.runUpload()')) as {
      result: { url: string; filePath: string; tags: string[]; size: number };
      progress: number[];
      videoWidth: number;
      duration: number;
      auth: { token: string; expire: number; signature: string };
    };
    expect(outcome.result.filePath).toMatch(/^\/browser\/from-browser_[A-Za-z0-9_-]{4,}\.mp4$/);
    expect(outcome.result.tags).toEqual(['web']);
    expect(outcome.progress.length).toBeGreaterThan(0);
    expect(outcome.videoWidth).toBeGreaterThan(0);
    expect(outcome.duration).toBeGreaterThan(1);
    // The same token again (a replayed form) is refused.
    const again = await page.evaluate(`window.reuseToken(${JSON.stringify(outcome.auth)})`);
    expect(again).toMatch(/already used/);
    await page.close();
  }, 60_000);
});
