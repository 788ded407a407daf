import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { signPath } from '../../src/url/signature.js';
import { expectJsonError, fetchBytes } from '../integration/helpers.js';
import { startProxy, type TestProxy } from '../support/proxy.js';

/**
 * A signed manifest unlocks its own ladder: playlists, init and media segments carry the
 * manifest's query (relative URLs) and verify against the manifest's signature. Nothing else
 * does: another source, another ladder or a tampered query is refused before the origin.
 */

const KEY = 'manifest-scope-key';

describe('signed HLS/DASH manifests with REQUIRE_SIGNED_URLS', () => {
  let proxy: TestProxy;
  beforeAll(async () => {
    proxy = await startProxy({ SIGNING_KEY: KEY, REQUIRE_SIGNED_URLS: 'true' });
  });
  afterAll(async () => {
    await proxy?.close();
  });

  /** The origin request count once it has not moved for 500 ms (at most 15 s). */
  const quietOriginRequests = async (): Promise<number> => {
    let last = proxy.proxy.origin.stats().requests;
    for (const deadline = Date.now() + 15_000; Date.now() < deadline; ) {
      await new Promise((settle) => setTimeout(settle, 500));
      const now = proxy.proxy.origin.stats().requests;
      if (now === last) return now;
      last = now;
    }
    throw new Error('the origin never went quiet');
  };

  /** Resolves a relative playlist URI against the URL it was listed in. */
  const resolve = (uri: string, base: string) => {
    const url = new URL(uri, `http://x${base}`);
    return url.pathname + url.search;
  };

  test('every URL an HLS master lists (playlists, init, segments) is served with the master signature', async () => {
    const master = signPath('/sample.mp4/ik-master.m3u8?tr=sr-240', KEY, Math.floor(Date.now() / 1000) + 600);
    const masterResponse = await fetchBytes(`${proxy.url}${master}`);
    expect(masterResponse.status, masterResponse.body.toString()).toBe(200);
    const listed = masterResponse.body
      .toString()
      .split('\n')
      .flatMap((line) =>
        line.startsWith('#') ? [...line.matchAll(/URI="([^"]+)"/g)].map((m) => m[1]!) : line ? [line] : [],
      );
    expect(listed.length).toBeGreaterThanOrEqual(2);
    for (const playlistUri of listed) {
      const playlistPath = resolve(playlistUri, master);
      expect(playlistPath).toContain('ik-s=');
      const playlist = await fetchBytes(`${proxy.url}${playlistPath}`);
      expect(playlist.status, `${playlistPath}: ${playlist.body.toString()}`).toBe(200);
      const text = playlist.body.toString();
      const init = /#EXT-X-MAP:URI="([^"]+)"/.exec(text)![1]!;
      const firstSegment = text.split('\n').find((line) => line && !line.startsWith('#'))!;
      for (const uri of [init, firstSegment]) {
        const response = await fetchBytes(`${proxy.url}${resolve(uri, playlistPath)}`);
        expect(response.status, `${uri}: ${response.body.toString()}`).toBe(200);
        expect(response.headers.get('content-type')).toMatch(/^(video|audio)\/mp4$/);
      }
    }
  });

  test('the DASH manifest signature unlocks its segment template URLs', async () => {
    const mpd = signPath('/sample.mp4/ik-master.mpd?tr=sr-240', KEY);
    const response = await fetchBytes(`${proxy.url}${mpd}`);
    expect(response.status).toBe(200);
    const query = new URL(`http://x${mpd}`).search;
    const init = await fetchBytes(`${proxy.url}/sample.mp4/ik-abs/240/init.mp4${query}`);
    expect(init.status, init.body.toString()).toBe(200);
  });

  test('a manifest signature does not unlock another source, another ladder, or a changed query', async () => {
    const master = signPath('/sample.mp4/ik-master.m3u8?tr=sr-240', KEY);
    const query = new URL(`http://x${master}`).search;
    // The earlier tests' segments prefetch their successors in the background; count from quiet.
    const before = await quietOriginRequests();
    for (const target of [
      `/portrait.mp4/ik-abs/240/seg-0.m4s${query}`,
      `/sample.mp4/ik-abs/240/seg-0.m4s${query.replace('sr-240', 'sr-240_360')}`,
      `/sample.mp4/ik-abs/240/seg-0.m4s${query}&extra=1`,
      `/sample.mp4/ik-thumbnail.jpg${query}`,
      `/sample.mp4${query}`,
    ]) {
      expectJsonError(await fetchBytes(`${proxy.url}${target}`), 401);
    }
    expect(proxy.proxy.origin.stats().requests).toBe(before);
  });
});
