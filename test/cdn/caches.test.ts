import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { classUserAgent } from '../../src/plan/browser-class.js';
import { signPath } from '../../src/url/signature.js';
import { type ProxyProcess, startProxyProcess } from '../support/proxy-process.js';
import { waitFor } from '../support/wait.js';
import {
  type CacheServer,
  hasNginx,
  hasVarnish,
  loggedRequests,
  startNginx,
  startVarnish,
} from './support.js';
import { BROWSERS, CLASS_COUNT } from './user-agents.js';

/**
 * The shipped nginx and Varnish configurations (deploy/cdn/, only the three strings changed) in
 * front of a real proxy process: what a platform engineer who copies them gets. Two proxies: one
 * with the default one-year CACHE_CONTROL, one with a 2 s TTL and a single job slot (for
 * revalidation and for a 503).
 */

const KEY = 'cdn-test-signing-key';

interface Fetched {
  status: number;
  headers: Headers;
  body: Buffer;
}

async function get(url: string, headers: Record<string, string> = {}): Promise<Fetched> {
  const response = await fetch(url, { headers: { 'User-Agent': 'cdn-test', ...headers } });
  return {
    status: response.status,
    headers: response.headers,
    body: Buffer.from(await response.arrayBuffer()),
  };
}

/** True when the cache named `name` (nginx, varnish) answered from its store. */
function cacheHit(response: Fetched, name: string): boolean {
  return (response.headers.get('cache-status') ?? '').includes(`${name}; hit`);
}

/** Polls `url` on the proxy itself until the output is complete and in its cache. */
async function madeOnProxy(proxy: ProxyProcess, pathAndQuery: string, headers: Record<string, string> = {}) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const answer = await get(`${proxy.url}${pathAndQuery}`, headers);
    if (answer.headers.get('cache-status') === 'ik-video-proxy; hit') {
      // Its log line is written asynchronously: wait for it, so offsets taken next come after it.
      const id = answer.headers.get('x-request-id') ?? '';
      await waitFor(() => proxy.output().includes(id), 5000);
      return answer;
    }
    if (Date.now() > deadline) throw new Error(`${pathAndQuery} never completed`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** The proxy's output length once its log has been still for 300 ms (lines are written asynchronously). */
async function settledOffset(proxy: ProxyProcess): Promise<number> {
  let length = proxy.output().length;
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 300));
    const now = proxy.output().length;
    if (now === length) return now;
    length = now;
  }
}

let folder: string;
let main: ProxyProcess;
let short: ProxyProcess;

beforeAll(async () => {
  folder = await mkdtemp(path.join(os.tmpdir(), 'ikvp-cdn-'));
  [main, short] = await Promise.all([
    startProxyProcess({ CACHE_DIR: path.join(folder, 'main'), SIGNING_KEY: KEY, SEGMENT_SECONDS: '2' }),
    startProxyProcess({
      CACHE_DIR: path.join(folder, 'short'),
      CACHE_CONTROL: 'public, max-age=2',
      MAX_JOBS: '1',
      MAX_QUEUE: '0',
    }),
  ]);
}, 60_000);

afterAll(async () => {
  await Promise.all([main?.stop(), short?.stop()]);
  if (folder) await rm(folder, { recursive: true, force: true });
});

describe.each(
  (
    [
      ['nginx', startNginx, hasNginx],
      ['varnish', startVarnish, hasVarnish],
    ] as const
  ).filter(([, , present]) => present),
)('%s with the shipped configuration', (name, start) => {
  let cache: CacheServer;
  let shortCache: CacheServer;
  /** Widths unique to this cache, so each test starts from a transform nobody asked for. */
  const width = (n: number) => (name === 'nginx' ? 200 : 300) + 2 * n;

  beforeAll(async () => {
    [cache, shortCache] = await Promise.all([start(main), start(short)]);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([cache?.stop(), shortCache?.stop()]);
  });

  test('a streamed first view is not stored; then ranges are 206 with the right bytes', async () => {
    const url = `/sample.mp4?tr=w-${width(1)},du-4`;
    const first = await get(`${cache.url}${url}`);
    expect(first.status).toBe(200);
    expect(first.headers.get('content-length')).toBeNull();
    expect(first.headers.get('cache-status')).toBe(
      `ik-video-proxy; fwd=miss; detail=streaming, ${name}; fwd=miss`,
    );
    expect(first.headers.get('x-cache')).toBeNull();
    await madeOnProxy(main, url);
    const total = first.body.length;
    for (const [range, start, end] of [
      ['bytes=0-1', 0, 1],
      ['bytes=1000-1999', 1000, 1999],
      ['bytes=0-1', 0, 1],
    ] as const) {
      const answer = await get(`${cache.url}${url}`, { Range: range });
      expect(answer.status, range).toBe(206);
      expect(answer.headers.get('content-range')).toBe(`bytes ${start}-${end}/${total}`);
      expect(answer.body.equals(first.body.subarray(start, end + 1))).toBe(true);
    }
    const last = await get(`${cache.url}${url}`, { Range: 'bytes=5-9' });
    expect(cacheHit(last, name)).toBe(true);
    expect(last.status).toBe(206);
  });

  test('a signed answer is served until its ik-t, then refused through the cache', async () => {
    const expiry = Math.floor(Date.now() / 1000) + 3;
    const url = signPath(`/sample.mp4/ik-thumbnail.jpg?tr=w-${width(2)}`, KEY, expiry);
    const first = await get(`${cache.url}${url}`);
    expect(first.status).toBe(200);
    const maxAge = Number(/max-age=(\d+)/.exec(first.headers.get('cache-control') ?? '')?.[1]);
    expect(maxAge).toBeLessThanOrEqual(3);
    expect(first.headers.get('expires')).toBe(new Date(expiry * 1000).toUTCString());
    const second = await get(`${cache.url}${url}`);
    expect(second.status).toBe(200);
    expect(cacheHit(second, name)).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, (expiry + 1) * 1000 - Date.now() + 100));
    const late = await get(`${cache.url}${url}`);
    expect(late.status).toBe(401);
    expect(late.headers.get('cache-control')).toBe('no-store');
  });

  test('pages that sign with an expiry rounded to a window share URLs; a fresh expiry per view does not', async () => {
    const path = `/sample.mp4/ik-thumbnail.jpg?tr=w-${width(8)}`;
    const now = Math.floor(Date.now() / 1000);
    const views = 5;
    const hitsOf = async (urls: string[]) => {
      let hits = 0;
      for (const url of urls) if (cacheHit(await get(`${cache.url}${url}`), name)) hits++;
      return hits;
    };
    // Each page view signs at its own second for "10 minutes from now".
    const perView = await hitsOf(Array.from({ length: views }, (_, i) => signPath(path, KEY, now + 600 + i)));
    // Each page view signs for the end of the next whole hour after "10 minutes from now".
    const windowed = Math.ceil((now + 600) / 3600) * 3600;
    const rounded = await hitsOf(Array.from({ length: views }, () => signPath(path, KEY, windowed)));
    console.log(`${name}: signed per view ${perView}/${views} hits, rounded to an hour ${rounded}/${views}`);
    expect(perView).toBe(0);
    expect(rounded).toBe(views - 1);
  });

  test('f-auto: 20 browsers get their format, one origin request per class, then all hits', async () => {
    const url = `/sample.mp4?tr=f-auto,w-${width(3)},du-2`;
    // The output exists on the proxy for both classes (a cold view would add one streamed request).
    for (const browser of ['webm', 'mp4'] as const)
      await madeOnProxy(main, url, { 'User-Agent': classUserAgent(browser) });
    const offset = await settledOffset(main);
    const pass = async () => {
      let hits = 0;
      for (const browser of BROWSERS) {
        const answer = await get(`${cache.url}${url}`, { 'User-Agent': browser.userAgent });
        expect(answer.status, browser.name).toBe(200);
        expect(answer.headers.get('content-type'), browser.name).toBe(`video/${browser.expected}`);
        const magic = answer.body.subarray(0, 4).toString('hex');
        expect(magic === '1a45dfa3' ? 'webm' : 'mp4', browser.name).toBe(browser.expected);
        if (cacheHit(answer, name)) hits++;
      }
      return hits;
    };
    const firstHits = await pass();
    // Request logs are written in batches (at most 200 ms late): read them once they are all out.
    await settledOffset(main);
    const origin = loggedRequests(main, offset).filter((entry) => entry.query?.includes('f-auto'));
    expect(origin.length, JSON.stringify(origin)).toBe(CLASS_COUNT);
    expect(firstHits).toBe(BROWSERS.length - CLASS_COUNT);
    const secondHits = await pass();
    console.log(
      `${name}: f-auto first pass ${firstHits}/${BROWSERS.length} hits, second ${secondHits}/${BROWSERS.length}`,
    );
    expect(secondHits / BROWSERS.length).toBeGreaterThanOrEqual(0.95);
    // URLs without f-auto keep one object for every browser.
    const plain = `/sample.mp4/ik-thumbnail.jpg?tr=w-${width(4)}`;
    await get(`${cache.url}${plain}`, { 'User-Agent': BROWSERS[0]!.userAgent });
    const other = await get(`${cache.url}${plain}`, { 'User-Agent': BROWSERS[12]!.userAgent });
    expect(cacheHit(other, name)).toBe(true);
  }, 120_000);

  test('f-auto the cache cannot see (percent-encoded) is one object for every browser, never a WebM for Safari', async () => {
    // The proxy decodes `f%2Dauto` to f-auto; the cache's marker does not match, so no class is in
    // its key, and the proxy must then see one User-Agent whatever the browser sends.
    const url = `/sample.mp4?tr=f%2Dauto,w-${width(9)},du-2`;
    for (const browser of ['webm', 'mp4'] as const)
      await madeOnProxy(main, url, { 'User-Agent': classUserAgent(browser) });
    const chrome = BROWSERS.find((browser) => browser.expected === 'webm')!;
    const safari = BROWSERS.find((browser) => browser.name.startsWith('Safari'))!;
    const first = await get(`${cache.url}${url}`, { 'User-Agent': chrome.userAgent });
    const second = await get(`${cache.url}${url}`, { 'User-Agent': safari.userAgent });
    expect([first.status, second.status]).toEqual([200, 200]);
    expect(second.headers.get('content-type')).toBe('video/mp4');
    expect(second.body.subarray(0, 4).toString('hex')).not.toBe('1a45dfa3');
    expect(first.body.equals(second.body)).toBe(true);
  }, 120_000);

  test('errors are not stored: a 404 and a 503 reach the proxy every time', async () => {
    const offset = await settledOffset(main);
    for (let i = 0; i < 2; i++) {
      const missing = await get(`${cache.url}/no-such-source.mp4?tr=w-100`);
      expect(missing.status).toBe(404);
      expect(cacheHit(missing, name)).toBe(false);
    }
    const refusals = () =>
      loggedRequests(main, offset).filter((entry) => entry.path === '/no-such-source.mp4');
    await waitFor(() => refusals().length >= 2, 5000);
    expect(refusals().map((entry) => entry.status)).toEqual([404, 404]);

    // The short proxy has one job slot and no queue: while it encodes, another new output is a 503.
    const busy = new AbortController();
    const blocker = await fetch(`${short.url}/sample.mp4?tr=w-${width(5)},q-90`, { signal: busy.signal });
    const url = `/sample.mp4/ik-thumbnail.jpg?tr=w-${width(6)}`;
    const refused = await get(`${shortCache.url}${url}`);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    busy.abort();
    await blocker.body?.cancel().catch(() => {});
    let after: Fetched | undefined;
    expect(
      await waitFor(async () => {
        after = await get(`${shortCache.url}${url}`);
        return after.status === 200;
      }, 30_000),
    ).toBe(true);
    expect(after?.headers.get('content-type')).toBe('image/jpeg');
  }, 60_000);

  test('a second HLS viewer is served from the cache; one object per rendition segment', async () => {
    const master = `/sample.mp4/ik-master.m3u8?tr=sr-240_360,du-4`;
    const watch = async () => {
      const answers: Fetched[] = [];
      const playlist = await get(`${cache.url}${master}`);
      answers.push(playlist);
      const media = playlist.body
        .toString()
        .split('\n')
        .filter((line) => line.startsWith('ik-abs/'));
      for (const entry of media) {
        const mediaUrl = new URL(entry, `http://x${master}`);
        const listing = await get(`${cache.url}${mediaUrl.pathname}${mediaUrl.search}`);
        answers.push(listing);
        const text = listing.body.toString();
        const files = [
          /URI="([^"]+)"/.exec(text)![1]!,
          ...text.split('\n').filter((line) => /^seg-/.test(line)),
        ];
        for (const file of files) {
          const fileUrl = new URL(file, mediaUrl);
          answers.push(await get(`${cache.url}${fileUrl.pathname}${fileUrl.search}`));
        }
      }
      return answers;
    };
    const first = await watch();
    expect(first.every((answer) => answer.status === 200)).toBe(true);
    const offset = await settledOffset(main);
    const second = await watch();
    expect(second.length).toBe(first.length);
    expect(second.filter((answer) => !cacheHit(answer, name))).toEqual([]);
    await settledOffset(main);
    expect(loggedRequests(main, offset)).toEqual([]);

    // Another ladder that holds 360p lists the same segment URLs: already cached.
    const other = await get(`${cache.url}/sample.mp4/ik-abs/360/index.m3u8?tr=sr-360_720,du-4`);
    const segment = other.body
      .toString()
      .split('\n')
      .find((line) => line.startsWith('seg-0'))!;
    const shared = await get(`${cache.url}/sample.mp4/ik-abs/360/${segment}`);
    expect(cacheHit(shared, name)).toBe(true);
  }, 120_000);

  test('an expired object is revalidated with a 304, not fetched again', async () => {
    const url = `/sample.mp4/ik-thumbnail.jpg?tr=w-${width(7)}`;
    await madeOnProxy(short, url);
    const stored = await get(`${shortCache.url}${url}`);
    expect(stored.status).toBe(200);
    const offset = await settledOffset(short);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const again = await get(`${shortCache.url}${url}`);
    expect(again.status).toBe(200);
    expect(again.body.equals(stored.body)).toBe(true);
    // Varnish may answer from grace and revalidate in the background.
    expect(
      await waitFor(
        () => loggedRequests(short, offset).some((entry) => entry.path === '/sample.mp4/ik-thumbnail.jpg'),
        5000,
      ),
    ).toBe(true);
    const seen = loggedRequests(short, offset).filter(
      (entry) => entry.path === '/sample.mp4/ik-thumbnail.jpg',
    );
    expect(seen.map((entry) => entry.status)).toEqual([304]);
  }, 30_000);
});
