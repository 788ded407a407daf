import { createHmac } from 'node:crypto';
import { buildSrc } from '@imagekit/javascript';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { signPath } from '../../src/url/signature.js';
import { expectJsonError, fetchBytes } from '../integration/helpers.js';
import { startProxy, type TestProxy } from '../support/proxy.js';

/**
 * Signed URLs (design §1, issue 5): with REQUIRE_SIGNED_URLS every unsigned, tampered, wrongly
 * signed or expired URL is a 401 JSON error before the origin is asked anything. The origin is
 * wrapped in the proxy's CountingOrigin, so "no origin request" is a measured number.
 */

const KEY = 'hardening-primary-key';
const OLD_KEY = 'hardening-previous-key';
const THUMB = '/sample.mp4/ik-thumbnail.jpg?tr=so-1,w-160';
const METADATA = '/sample.mp4/ik-metadata.json';

/** ImageKit's algorithm written out independently of src/url: HMAC-SHA1(key, url-after-endpoint + expiry). */
function imagekitSign(url: string, urlEndpoint: string, key: string, expiresAt?: number): string {
  const endpoint = urlEndpoint.endsWith('/') ? urlEndpoint : `${urlEndpoint}/`;
  const expiry = expiresAt === undefined ? '9999999999' : String(expiresAt);
  const signature = createHmac('sha1', key)
    .update(url.slice(endpoint.length) + expiry)
    .digest('hex');
  const joiner = url.includes('?') ? '&' : '?';
  return `${url}${joiner}${expiresAt === undefined ? '' : `ik-t=${expiry}&`}ik-s=${signature}`;
}

function originRequests(proxy: TestProxy): number {
  return proxy.proxy.origin.stats().requests;
}

/** Fetches `target` and asserts it was refused with 401 JSON without a single origin request. */
async function expectRefusedBeforeOrigin(proxy: TestProxy, target: string): Promise<string> {
  const before = originRequests(proxy);
  const response = await fetchBytes(`${proxy.url}${target}`);
  const error = expectJsonError(response, 401);
  expect(error.code).toBe('unauthorized');
  expect(originRequests(proxy), `origin was asked for ${target}`).toBe(before);
  return error.message;
}

describe('REQUIRE_SIGNED_URLS=true, two keys (rotation)', () => {
  let proxy: TestProxy;
  beforeAll(async () => {
    proxy = await startProxy({ SIGNING_KEY: `${KEY},${OLD_KEY}`, REQUIRE_SIGNED_URLS: 'true' });
  });
  afterAll(async () => {
    await proxy?.close();
  });

  test('a URL signed with signPath is served, and the origin is read for it', async () => {
    const before = originRequests(proxy);
    const response = await fetchBytes(`${proxy.url}${signPath(THUMB, KEY)}`);
    expect(response.status, response.body.toString()).toBe(200);
    expect(response.headers.get('content-type')).toBe('image/jpeg');
    expect(originRequests(proxy)).toBeGreaterThan(before);
  });

  test('both rotation keys verify, with and without an expiry in the future', async () => {
    const future = Math.floor(Date.now() / 1000) + 600;
    for (const target of [
      signPath(METADATA, KEY),
      signPath(METADATA, OLD_KEY),
      signPath(METADATA, OLD_KEY, future),
    ]) {
      const response = await fetchBytes(`${proxy.url}${target}`);
      expect(response.status, `${target}: ${response.body.toString()}`).toBe(200);
      expect(JSON.parse(response.body.toString()).width).toBe(1280);
    }
  });

  test('a missing signature is 401 with no origin request', async () => {
    expect(await expectRefusedBeforeOrigin(proxy, '/random.mp4/ik-metadata.json')).toMatch(/missing/i);
  });

  test('a tampered path is 401 with no origin request', async () => {
    const signed = signPath('/sample.mp4/ik-metadata.json', KEY);
    expect(await expectRefusedBeforeOrigin(proxy, signed.replace('/sample.mp4', '/portrait.mp4'))).toMatch(
      /wrong/i,
    );
  });

  test('a tampered tr is 401 with no origin request', async () => {
    const signed = signPath('/portrait.mp4/ik-thumbnail.jpg?tr=w-100', KEY);
    expect(signed).toContain('tr=w-100');
    await expectRefusedBeforeOrigin(proxy, signed.replace('tr=w-100', 'tr=w-4000'));
    // Adding a step to tr is tampering too.
    await expectRefusedBeforeOrigin(proxy, signed.replace('tr=w-100', 'tr=w-100:rt-90'));
  });

  test('a wrong signature (unknown key, or garbage) is 401 with no origin request', async () => {
    await expectRefusedBeforeOrigin(proxy, signPath('/portrait.mp4/ik-metadata.json', 'some-other-key'));
    await expectRefusedBeforeOrigin(proxy, '/portrait.mp4/ik-metadata.json?ik-s=not-hex');
    await expectRefusedBeforeOrigin(proxy, `/portrait.mp4/ik-metadata.json?ik-s=${'0'.repeat(40)}`);
  });

  test('an expired signature is 401 naming the expiry, with no origin request', async () => {
    const past = Math.floor(Date.now() / 1000) - 60;
    expect(
      await expectRefusedBeforeOrigin(proxy, signPath('/portrait.mp4/ik-metadata.json', KEY, past)),
    ).toMatch(/expired/i);
  });

  test('moving the expiry of a signed URL into the future is a wrong signature, with no origin request', async () => {
    const past = Math.floor(Date.now() / 1000) - 60;
    const signed = signPath('/portrait.mp4/ik-metadata.json', KEY, past);
    const extended = signed.replace(`ik-t=${past}`, `ik-t=${past + 3600}`);
    expect(extended).not.toBe(signed);
    expect(await expectRefusedBeforeOrigin(proxy, extended)).toMatch(/wrong/i);
  });

  test('a video transform with a bad signature never starts a job', async () => {
    const limiter = proxy.proxy.limiter.stats();
    await expectRefusedBeforeOrigin(proxy, signPath('/portrait.mp4?tr=w-200', KEY).replace('w-200', 'w-202'));
    expect(proxy.proxy.service.liveJobCount).toBe(0);
    expect(proxy.proxy.limiter.stats()).toEqual(limiter);
  });
});

describe('BASE_PATH=/v: URLs signed for the endpoint https://cdn.example.com/v', () => {
  let proxy: TestProxy;
  const endpoint = 'https://cdn.example.com/v';
  beforeAll(async () => {
    proxy = await startProxy({ SIGNING_KEY: KEY, REQUIRE_SIGNED_URLS: 'true', BASE_PATH: '/v' });
  });
  afterAll(async () => {
    await proxy?.close();
  });

  /** The path and query a CDN forwards for a public URL under the endpoint. */
  function forwarded(publicUrl: string): string {
    const url = new URL(publicUrl);
    return url.pathname + url.search;
  }

  test('an SDK-built URL signed by the ImageKit algorithm for the endpoint is served', async () => {
    const built = buildSrc({
      urlEndpoint: endpoint,
      src: '/sample.mp4/ik-thumbnail.jpg',
      transformation: [{ width: 120 }],
    });
    expect(built.startsWith(`${endpoint}/`)).toBe(true);
    const response = await fetchBytes(`${proxy.url}${forwarded(imagekitSign(built, endpoint, KEY))}`);
    expect(response.status, response.body.toString()).toBe(200);
    expect(response.headers.get('content-type')).toBe('image/jpeg');
  });

  test('signPath with basePath agrees with the endpoint signature', async () => {
    const publicUrl = imagekitSign(`${endpoint}${METADATA}`, endpoint, KEY);
    expect(signPath(`/v${METADATA}`, KEY, undefined, { basePath: '/v' })).toBe(forwarded(publicUrl));
    const response = await fetchBytes(`${proxy.url}${forwarded(publicUrl)}`);
    expect(response.status).toBe(200);
  });

  test('a URL signed without the endpoint prefix (wrong base) is 401 with no origin request', async () => {
    // Signed as if the endpoint were https://cdn.example.com (so "v/" is inside the signed string).
    const wrongBase = imagekitSign(`https://cdn.example.com/v${METADATA}`, 'https://cdn.example.com', KEY);
    await expectRefusedBeforeOrigin(proxy, forwarded(wrongBase));
  });

  test('unsigned and expired URLs under the prefix are 401 with no origin request', async () => {
    await expectRefusedBeforeOrigin(proxy, `/v${METADATA}`);
    const past = Math.floor(Date.now() / 1000) - 5;
    await expectRefusedBeforeOrigin(
      proxy,
      forwarded(imagekitSign(`${endpoint}${METADATA}`, endpoint, KEY, past)),
    );
  });
});
