import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { useLayerOrigin } from '../layers/support.js';
import { hasChromium, launchChromium } from '../support/browser.js';
import { REPO_ROOT } from '../support/fixtures.js';
import { useProxy } from '../support/proxy.js';

/**
 * Caption files beside a source (`base.en.vtt`, `base.fr.srt`) as tracks of its HLS and DASH
 * streams, in real players: hls.js and dash.js in headless Chromium list both languages and
 * show the English cue while the video plays through its time (1 s to 4 s), not before it.
 */

const HLS_SCRIPT = path.join(REPO_ROOT, 'node_modules/hls.js/dist/hls.min.js');
const DASH_SCRIPT = path.join(REPO_ROOT, 'node_modules/dashjs/dist/modern/umd/dash.all.min.js');

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"></head><body>
<video id="video" muted playsinline width="320" height="240"></video>
<script src="/hls.js"></script><script src="/dash.js"></script>
<script>
  const query = new URLSearchParams(location.search);
  const video = document.getElementById('video');
  const state = { tracks: [], seen: [], errors: [] };
  window.__state = state;
  video.muted = true;
  const watch = () => {
    for (const track of video.textTracks) {
      if (track.language === 'en' && track.mode === 'disabled') track.mode = 'hidden';
      for (const cue of track.activeCues || []) state.seen.push({ lang: track.language, text: cue.text, at: video.currentTime });
    }
  };
  setInterval(watch, 50);
  if (query.get('player') === 'hls') {
    const hls = new Hls({ subtitleDisplay: false });
    hls.on(Hls.Events.ERROR, (_e, data) => { if (data.fatal) state.errors.push(data.details); });
    hls.on(Hls.Events.SUBTITLE_TRACKS_UPDATED, () => {
      state.tracks = hls.subtitleTracks.map((t) => t.lang);
      hls.subtitleTrack = hls.subtitleTracks.findIndex((t) => t.lang === 'en');
    });
    hls.on(Hls.Events.MANIFEST_PARSED, () => video.play());
    hls.loadSource(query.get('src'));
    hls.attachMedia(video);
  } else {
    const player = dashjs.MediaPlayer().create();
    player.on(dashjs.MediaPlayer.events.ERROR, (e) => state.errors.push(JSON.stringify(e.error)));
    player.on(dashjs.MediaPlayer.events.STREAM_INITIALIZED, () => {
      const tracks = player.getTracksFor('text');
      state.tracks = tracks.map((t) => t.lang);
      const en = tracks.find((t) => t.lang === 'en');
      player.enableText(true);
      if (en) player.setCurrentTrack(en);
    });
    player.initialize(video, query.get('src'), true);
  }
</script></body></html>`;

async function startPage(): Promise<{ url: string; server: Server }> {
  const [hls, dash] = await Promise.all([readFile(HLS_SCRIPT), readFile(DASH_SCRIPT)]);
  const bodies: Record<string, [string, string | Buffer]> = {
    '/player.html': ['text/html; charset=utf-8', PAGE],
    '/hls.js': ['text/javascript', hls],
    '/dash.js': ['text/javascript', dash],
  };
  const server = createServer((request, response) => {
    const found = bodies[new URL(request.url ?? '/', 'http://localhost').pathname];
    if (!found) return void response.writeHead(404).end();
    response.writeHead(200, { 'Content-Type': found[0] }).end(found[1]);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

const origin = useLayerOrigin();
beforeAll(async () => {
  await writeFile(
    path.join(origin, 'base.en.vtt'),
    'WEBVTT\n\n00:00:01.000 --> 00:00:04.000\nHello captions\n',
  );
  await writeFile(path.join(origin, 'base.fr.srt'), '1\n00:00:01,000 --> 00:00:04,000\nBonjour\n');
});
const proxy = useProxy({ ORIGIN: origin });

describe.skipIf(!hasChromium)('caption tracks in real players', () => {
  let browser: Browser;
  let page: { url: string; server: Server };
  beforeAll(async () => {
    browser = await launchChromium();
    page = await startPage();
  });
  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => page?.server.close(resolve));
  });

  test.each([
    ['hls', 'ik-master.m3u8'],
    ['dash', 'ik-master.mpd'],
  ])('%s lists en and fr and shows the English cue at its time', async (player, manifest) => {
    const tab = await browser.newPage();
    try {
      const src = `${proxy.url}/base.mp4/${manifest}?tr=sr-240`;
      await tab.goto(`${page.url}/player.html?player=${player}&src=${encodeURIComponent(src)}`);
      await tab.waitForFunction('window.__state.seen.length > 0', undefined, { timeout: 30_000 });
      const state = await tab.evaluate<{
        tracks: string[];
        seen: Array<{ lang: string; text: string; at: number }>;
        errors: string[];
      }>('window.__state');
      expect(state.errors).toEqual([]);
      expect([...state.tracks].sort()).toEqual(['en', 'fr']);
      const first = state.seen[0]!;
      expect(first).toMatchObject({ lang: 'en', text: 'Hello captions' });
      expect(first.at).toBeGreaterThanOrEqual(0.95);
      expect(first.at).toBeLessThanOrEqual(4.05);
    } finally {
      await tab.close();
    }
  });
});
