import { createHmac } from 'node:crypto';
import { copyFile, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { FIXTURES_DIR } from '../support/fixtures.js';
import { startProxy, type TestProxy } from '../support/proxy.js';

/**
 * A body is a function of its cache key: the kinds whose bytes repeat part of the request
 * (playlists, manifests, the seek track) repeat `tr`, `ik-t` and `ik-s` only, and are keyed by
 * exactly those; nothing else a client sends reaches a cached body.
 */
const TEXT_OUTPUTS = [
  '/sample.mp4/ik-master.m3u8?tr=sr-240_360',
  '/sample.mp4/ik-master.mpd?tr=sr-240_360',
  '/sample.mp4/ik-abs/240/index.m3u8?tr=sr-240_360',
  '/sample.mp4/ik-seek-thumbnail-track.vtt',
  '/sample.mp4/ik-metadata.json',
];

const KEY = 'test-signing-key';

function sign(pathAndQuery: string, expiry: number): string {
  const signature = createHmac('sha1', KEY)
    .update(pathAndQuery.replace(/^\//, '') + expiry)
    .digest('hex');
  return `${pathAndQuery}${pathAndQuery.includes('?') ? '&' : '?'}ik-t=${expiry}&ik-s=${signature}`;
}

describe('request inputs that reach a body', () => {
  let proxy: TestProxy;
  beforeAll(async () => {
    proxy = await startProxy({ SIGNING_KEY: KEY });
  });
  afterAll(() => proxy.close());

  const name = fc.stringMatching(/^zz[a-z0-9]{1,8}$/);
  // Prefixed so that no body could contain one by chance (`#xywh=0,0` would match a bare `=0`).
  const value = fc.stringMatching(/^zq[A-Za-z0-9]{1,10}$/);

  test.each(TEXT_OUTPUTS)(
    '%s: random extra query parameters and headers never reach the body',
    async (url) => {
      const reference = await (await fetch(proxy.url + url)).text();
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.tuple(name, value), { minLength: 1, maxLength: 4 }),
          value,
          async (extra, header) => {
            const query = extra.map(([k, v]) => `${k}=${v}`).join('&');
            const joined = `${proxy.url}${url}${url.includes('?') ? '&' : '?'}${query}`;
            const response = await fetch(joined, {
              headers: { 'X-Extra': header, 'User-Agent': `zz-${header}` },
            });
            const body = await response.text();
            expect(response.status).toBe(200);
            for (const [k, v] of extra) {
              expect(body).not.toContain(k);
              expect(body).not.toContain(v);
            }
            expect(body).toBe(reference);
            // And the plain URL is still answered with the plain body afterwards.
            expect(await (await fetch(proxy.url + url)).text()).toBe(reference);
          },
        ),
        { numRuns: 8 },
      );
    },
  );

  test("one viewer's signature is never served to another", async () => {
    const track = '/sample.mp4/ik-seek-thumbnail-track.vtt';
    const far = Math.floor(Date.now() / 1000) + 3600;
    const first = sign(track, far);
    const second = sign(track, far + 1);
    const firstBody = await (await fetch(proxy.url + first)).text();
    const secondBody = await (await fetch(proxy.url + second)).text();
    const query = (url: string) => url.slice(url.indexOf('?'));
    expect(firstBody).toContain(`ik-sprite-0.jpg${query(first)}#xywh`);
    expect(secondBody).toContain(`ik-sprite-0.jpg${query(second)}#xywh`);
    expect(secondBody).not.toContain(query(first));
  });

  test('sprite sheets listed by a signed seek track verify with its signature', async () => {
    const far = Math.floor(Date.now() / 1000) + 3600;
    const track = sign('/sample.mp4/ik-seek-thumbnail-track.vtt', far);
    const vtt = await (await fetch(proxy.url + track)).text();
    const sheet = /^(ik-sprite-0\.jpg\?[^#]+)#/m.exec(vtt)?.[1];
    expect(sheet).toBeDefined();
    const response = await fetch(`${proxy.url}/sample.mp4/${sheet}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('image/jpeg');
    // One hex digit changed (never to itself).
    const forged = sheet?.replace(/ik-s=(.)/, (_match, first: string) => `ik-s=${first === '0' ? '1' : '0'}`);
    const tampered = await fetch(`${proxy.url}/sample.mp4/${forged}`);
    expect(tampered.status).toBe(401);
  });
});

describe('originals are never rendered as a page', () => {
  let proxy: TestProxy;
  let folder: string;
  beforeAll(async () => {
    folder = await mkdtemp(path.join(os.tmpdir(), 'ikvp-originals-'));
    await copyFile(path.join(FIXTURES_DIR, 'sample.mp4'), path.join(folder, 'clip.html'));
    await writeFile(path.join(folder, 'page.mp4'), '<html><script>alert(1)</script></html>');
    await writeFile(
      path.join(folder, 'image.svg'),
      '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    );
    await writeFile(path.join(folder, '.env'), 'SECRET=1');
    proxy = await startProxy({ ORIGIN: folder });
  });
  afterAll(async () => {
    await proxy.close();
    await rm(folder, { recursive: true, force: true });
  });

  test('a video is served with its sniffed type whatever its name, with nosniff and a sandboxing CSP', async () => {
    const response = await fetch(`${proxy.url}/clip.html`);
    await response.arrayBuffer();
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('video/mp4');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('content-security-policy')).toMatch(/default-src 'none'.*sandbox/);
    expect(response.headers.get('content-disposition')).toBeNull();
  });

  test('the type is sniffed once per version: later ranges of a player cost one origin read each', async () => {
    await (await fetch(`${proxy.url}/clip.html`, { headers: { Range: 'bytes=0-1' } })).arrayBuffer();
    const before = proxy.proxy.origin.stats().requests;
    for (const range of ['bytes=100-199', 'bytes=1000-', 'bytes=-50']) {
      const response = await fetch(`${proxy.url}/clip.html`, { headers: { Range: range } });
      await response.arrayBuffer();
      expect(response.status).toBe(206);
      expect(response.headers.get('content-type')).toBe('video/mp4');
    }
    expect(proxy.proxy.origin.stats().requests - before).toBe(3);
  });

  test.each(['/page.mp4', '/image.svg'])('%s (not media) is a download of octet-stream', async (url) => {
    for (const method of ['GET', 'HEAD']) {
      const response = await fetch(proxy.url + url, { method });
      await response.arrayBuffer();
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('application/octet-stream');
      expect(response.headers.get('content-disposition')).toBe('attachment');
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    }
  });

  test.each(['/.env', '/%2eenv', '/a/../.env'])('dotfile %s is not served', async (url) => {
    const response = await fetch(proxy.url + url);
    expect([400, 404]).toContain(response.status);
    expect(await response.text()).not.toContain('SECRET');
  });
});

describe('spellings of one request are one body and one cache entry', () => {
  let proxy: TestProxy;
  beforeAll(async () => {
    proxy = await startProxy();
  });
  afterAll(() => proxy.close());

  test('encoded tr spellings and unverified signatures never multiply a playlist', async () => {
    const spellings = [
      'tr=sr-240',
      'tr=sr%2D240',
      'tr=s%72-240',
      't%72=sr-240',
      `tr=sr-240&ik-s=${'a'.repeat(3000)}`,
    ];
    const bodies = new Set<string>();
    for (const spelling of spellings) {
      const response = await fetch(`${proxy.url}/sample.mp4/ik-abs/240/index.m3u8?${spelling}`);
      expect(response.status).toBe(200);
      bodies.add(await response.text());
    }
    expect(bodies.size).toBe(1);
    const [body] = bodies;
    // A rendition's segments are listed without the ladder (one URL per rendition segment).
    expect(body).toMatch(/^seg-0\.m4s$/m);
    expect(body).not.toContain('ik-s');
    const entries = (await readdir(proxy.cacheDir, { recursive: true })).filter((name) =>
      name.endsWith('.json'),
    );
    expect(entries).toHaveLength(1);
  });
});
