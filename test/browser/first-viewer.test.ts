import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page, Response } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { hasChromium, launchChromium } from '../support/browser.js';
import { ffprobeDuration } from '../support/ffprobe.js';
import { FIXTURES_DIR } from '../support/fixtures.js';
import { startProxy, type TestProxy } from '../support/proxy.js';

/**
 * Design §5: the first viewer of a new transform sees the final duration at `loadedmetadata` in
 * Chromium, MP4 and WebM. The first request streams the output while ffmpeg encodes it to a
 * pipe, so ffmpeg cannot write the length into the header; the proxy stamps it there from the
 * plan. Without that, Chromium reports a fragmented MP4 as lasting its first fragment or two
 * (growing as more arrive) and a WebM as Infinity, and neither can be seeked ahead.
 */

/** "Within one frame or ~0.1 s": the sample is 30 fps, and an H.264 track starts 2 frames late. */
const TOLERANCE_S = 0.1;

let proxy: TestProxy;
let browser: Browser;
let dir: string;
let sourceSeconds: number;

async function probeDuration(bytes: Buffer, name: string): Promise<number | undefined> {
  const file = path.join(dir, name);
  await writeFile(file, bytes);
  return ffprobeDuration(file);
}

/**
 * Loads `src` in a `<video>`: `response` settles when the media response's headers arrive,
 * `duration` with the element's duration at `loadedmetadata` (Infinity for a stream of unknown
 * length). The page is on the proxy's origin: Chromium's local-network rules block loopback
 * media from about:blank.
 */
async function openVideo(
  page: Page,
  src: string,
): Promise<{ response: Promise<Response>; duration: Promise<number> }> {
  await page.goto(`${proxy.url}/healthz`);
  const response = page.waitForResponse((candidate) => candidate.url() === src, { timeout: 20_000 });
  await page.setContent(
    `<video id="video" muted preload="metadata"></video>
     <script>
       const video = document.getElementById('video');
       video.addEventListener('loadedmetadata', () => { window.metadataDuration = String(video.duration); });
       video.addEventListener('error', () => { window.metadataDuration = 'error ' + video.error.message; });
       video.src = ${JSON.stringify(src)};
     </script>`,
  );
  const duration = page
    .waitForFunction('window.metadataDuration', undefined, { timeout: 20_000 })
    .then(async (handle) => {
      const text = (await handle.jsonValue()) as string;
      if (text.startsWith('error')) throw new Error(`the video failed: ${text}`);
      return Number(text);
    });
  return { response, duration };
}

/** GETs `url` to the end; the body and the headers. */
async function download(url: string): Promise<{ body: Buffer; headers: Headers }> {
  const response = await fetch(url);
  expect(response.status).toBe(200);
  return { body: Buffer.from(await response.arrayBuffer()), headers: response.headers };
}

/** Polls until the output is in the cache (a GET answered from it rather than from the encode). */
async function waitForCached(url: string): Promise<{ body: Buffer; headers: Headers }> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const answer = await download(url);
    if (answer.headers.get('x-cache')?.startsWith('HIT')) return answer;
    if (Date.now() > deadline) throw new Error(`never cached: x-cache ${answer.headers.get('x-cache')}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

describe.skipIf(!hasChromium)('the first viewer of a never-seen transform', () => {
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ikvp-first-viewer-'));
    sourceSeconds = (await probeDuration(
      await readFile(path.join(FIXTURES_DIR, 'sample.mp4')),
      'source.mp4',
    ))!;
    proxy = await startProxy();
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await proxy?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test.each([
    ['mp4 (fragmented h264/aac)', 'mp4', 'w-480'],
    ['webm (vp9/opus)', 'webm', 'w-480,f-webm'],
  ] as const)(
    '%s: Chromium sees the final duration at loadedmetadata while it is still being encoded',
    async (_label, container, tr) => {
      const url = `${proxy.url}/sample.mp4?tr=${tr}`;
      const page = await browser.newPage();
      try {
        const first = await openVideo(page, url);
        const response = await first.response;
        expect(response.headers()['x-cache']).toBe('MISS-STREAMING');
        // A plain GET joins the same live encode from byte 0: the streamed body, whole.
        const streamed = download(url);
        const duration = await first.duration;
        expect(Math.abs(duration - sourceSeconds)).toBeLessThanOrEqual(TOLERANCE_S);

        const { body, headers: streamedHeaders } = await streamed;
        expect(streamedHeaders.get('x-cache')).toBe('MISS-STREAMING');
        const probed = await probeDuration(body, `streamed.${container}`);
        expect(probed).toBeDefined();
        expect(Math.abs(probed! - sourceSeconds)).toBeLessThanOrEqual(TOLERANCE_S);

        const cached = await waitForCached(url);
        if (container === 'mp4') {
          // The streamed bytes are the cached bytes: the ETag sent while streaming stays true.
          expect(streamedHeaders.get('etag')).toBeTruthy();
          expect(cached.headers.get('etag')).toBe(streamedHeaders.get('etag'));
          expect(response.headers().etag).toBe(streamedHeaders.get('etag'));
          expect(cached.body.equals(body)).toBe(true);
        } else {
          // A WebM is remuxed with Cues once encoded, so its streamed copy carried no ETag.
          expect(streamedHeaders.get('etag')).toBeNull();
          const final = await probeDuration(cached.body, `cached.${container}`);
          expect(Math.abs(final! - probed!)).toBeLessThanOrEqual(TOLERANCE_S);
        }

        // And a later viewer of the finished file sees the same length as the first one did.
        const later = await browser.newPage();
        try {
          const again = await openVideo(later, url);
          expect((await again.response).headers()['x-cache']).toMatch(/^HIT/);
          expect(Math.abs((await again.duration) - duration)).toBeLessThanOrEqual(TOLERANCE_S);
        } finally {
          await later.close();
        }
      } finally {
        await page.close();
      }
    },
    120_000,
  );
});
