import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { hasChromium, launchChromium } from '../support/browser.js';
import { useProxy } from '../support/proxy.js';

/**
 * A plain `<video src>` in headless Debian Chromium pointed at a transform nobody asked for
 * before must start playing while the proxy is still encoding it: the first request streams.
 */

const PLAY_TIMEOUT_MS = 10_000;

/**
 * Browser-side code (a string, so this Node project needs no DOM types): resolves once the
 * video has played past 0.5 s, reports an error, or the time runs out.
 */
function waitForPlayback(timeoutMs: number): string {
  return `new Promise((resolve) => {
    const video = document.getElementById('video');
    let error = video.error ? 'code ' + video.error.code + ': ' + video.error.message : null;
    video.addEventListener('error', () => { error = 'code ' + video.error.code + ': ' + video.error.message; });
    video.play().catch((reason) => { error = error || 'play(): ' + reason.message; });
    const started = performance.now();
    const poll = () => {
      if (error || video.currentTime > 0.5 || performance.now() - started > ${timeoutMs}) {
        resolve({ currentTime: video.currentTime, error });
      } else {
        setTimeout(poll, 100);
      }
    };
    poll();
  })`;
}

let browser: Browser;

describe.skipIf(!hasChromium)('a <video> plays a never-seen transform', () => {
  const proxy = useProxy();

  beforeAll(async () => {
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
  });

  test.each([
    ['mp4 (h264/aac, fragmented)', 'w-640,q-60'],
    ['webm (vp9/opus)', 'w-640,q-60,f-webm'],
  ])(
    '%s starts playing within 10 s with no error',
    async (_label, tr) => {
      const page = await browser.newPage();
      try {
        // about:blank is an insecure 'null' origin, and Chromium's private/local network access
        // rules block it from loading loopback URLs ("more-private address space"). A document on
        // the proxy's own origin (its health endpoint, replaced by our markup) has no such barrier.
        await page.goto(`${proxy.url}/healthz`);
        const src = `${proxy.url}/sample.mp4?tr=${tr}`;
        await page.setContent(`<video id="video" muted autoplay playsinline src="${src}"></video>`);
        const result = (await page.evaluate(waitForPlayback(PLAY_TIMEOUT_MS))) as {
          currentTime: number;
          error: string | null;
        };
        expect(result.error).toBeNull();
        expect(result.currentTime).toBeGreaterThan(0.5);
      } finally {
        await page.close();
      }
    },
    30_000,
  );
});
