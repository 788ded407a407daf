import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { hasChromium, launchChromium } from '../support/browser.js';
import { fixturePath } from '../support/fixtures.js';
import { startProxy, type TestProxy } from '../support/proxy.js';

const PRIVATE_KEY = 'playground_upload_key';

/** The few browser globals the page callbacks touch (the project's tsconfig has no DOM lib). */
interface BrowserElement {
  textContent: string | null;
  readyState: number;
  videoWidth: number;
  src: string;
  value: number;
  max: number;
  dispatchEvent(event: unknown): void;
}
interface BrowserGlobals {
  document: { getElementById(id: string): BrowserElement };
  DataTransfer: new () => { items: { add(file: unknown): void } };
  DragEvent: new (type: string, init: unknown) => unknown;
  File: new (parts: unknown[], name: string, options: unknown) => unknown;
}
describe.skipIf(!hasChromium)('the playground upload box in Chromium', () => {
  let root: string;
  let proxy: TestProxy;
  let browser: Browser;

  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'api-playground-'));
    proxy = await startProxy({ ORIGIN: root, API_PRIVATE_KEY: PRIVATE_KEY, PLAYGROUND: 'true' });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await proxy?.close();
    await rm(root, { recursive: true, force: true });
  });

  test('a picked file uploads with progress, the answer shows and the video plays; a dropped one too', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${proxy.url}/playground`);
    await page.fill('#upload-key', PRIVATE_KEY);
    await page.setInputFiles('#upload-file', fixturePath('sample.mp4'));
    await page.waitForFunction(
      () =>
        /Stored as|\d{3}:/.test(
          (globalThis as unknown as BrowserGlobals).document.getElementById('upload-status').textContent ??
            '',
        ),
      null,
      { timeout: 30_000, polling: 100 },
    );
    expect(await page.textContent('#upload-status')).toMatch(/^Stored as/);
    const answer = JSON.parse((await page.textContent('#upload-answer')) ?? '{}') as {
      filePath: string;
      url: string;
    };
    expect(answer.filePath).toMatch(/^\/sample_[A-Za-z0-9_-]{4,}\.mp4$/);
    // The returned url plays in the box's video element.
    await page.waitForFunction(
      () => {
        const video = (globalThis as unknown as BrowserGlobals).document.getElementById('upload-video');
        return video.readyState >= 1 && video.videoWidth > 0;
      },
      null,
      { timeout: 30_000, polling: 100 },
    );
    expect(
      await page.evaluate(
        () => (globalThis as unknown as BrowserGlobals).document.getElementById('upload-video').src,
      ),
    ).toBe(answer.url);
    const progress = await page.evaluate(() => {
      const bar = (globalThis as unknown as BrowserGlobals).document.getElementById('upload-progress');
      return { value: bar.value, max: bar.max };
    });
    expect(progress.max).toBeGreaterThan(1);
    expect(progress.value).toBe(progress.max);

    // Drag and drop: the stored video, fetched back as a File in a DataTransfer, dropped on the zone.
    await page.evaluate(async (url) => {
      const g = globalThis as unknown as BrowserGlobals;
      const bytes = await (await fetch(url)).arrayBuffer();
      const transfer = new g.DataTransfer();
      transfer.items.add(new g.File([bytes], 'dropped.mp4', { type: 'video/mp4' }));
      g.document
        .getElementById('upload-zone')
        .dispatchEvent(new g.DragEvent('drop', { dataTransfer: transfer, bubbles: true }));
    }, answer.url);
    await page.waitForFunction(
      () =>
        /dropped_|\d{3}:/.test(
          (globalThis as unknown as BrowserGlobals).document.getElementById('upload-status').textContent ??
            '',
        ),
      null,
      { timeout: 30_000, polling: 100 },
    );
    expect(await page.textContent('#upload-status')).toMatch(/^Stored as \/dropped_/);
    expect(errors).toEqual([]);
    await page.close();
  }, 90_000);
});
