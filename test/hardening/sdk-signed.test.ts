import ImageKit from '@imagekit/nodejs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { expectJsonError, fetchBytes } from '../integration/helpers.js';
import { startProxy, type TestProxy } from '../support/proxy.js';

/**
 * URLs signed by ImageKit's own server SDK (`client.helper.buildSrc({ signed: true })`, with
 * `urlEndpoint` set to the proxy) verify unchanged, with and without expiry and a path prefix;
 * the same URLs tampered with are refused before the origin.
 */
const KEY = 'private_sdk_compat_key';

describe('URLs signed by @imagekit/nodejs', () => {
  let proxy: TestProxy;
  let prefixed: TestProxy;
  const client = new ImageKit({ privateKey: KEY });
  beforeAll(async () => {
    proxy = await startProxy({ SIGNING_KEY: KEY, REQUIRE_SIGNED_URLS: 'true' });
    prefixed = await startProxy({ SIGNING_KEY: KEY, REQUIRE_SIGNED_URLS: 'true', BASE_PATH: '/v' });
  });
  afterAll(async () => {
    await proxy?.close();
    await prefixed?.close();
  });

  test('a signed thumbnail URL with a transformation in the query verifies, with and without expiry', async () => {
    for (const expiresIn of [undefined, 600]) {
      const url = client.helper.buildSrc({
        urlEndpoint: proxy.url,
        src: '/sample.mp4/ik-thumbnail.jpg',
        transformation: [{ width: 160, startOffset: 2 }],
        signed: true,
        ...(expiresIn ? { expiresIn } : {}),
      });
      expect(url).toContain('ik-s=');
      const response = await fetchBytes(url);
      expect(response.status, `${url}: ${response.body.toString()}`).toBe(200);
      expect(response.headers.get('content-type')).toBe('image/jpeg');
    }
  });

  test('the path form (transformationPosition: path) and a proxy behind /v verify too', async () => {
    const pathForm = client.helper.buildSrc({
      urlEndpoint: proxy.url,
      src: '/sample.mp4/ik-metadata.json',
      transformationPosition: 'path',
      signed: true,
    });
    expect((await fetchBytes(pathForm)).status).toBe(200);
    const behindPrefix = client.helper.buildSrc({
      urlEndpoint: `${prefixed.url}/v`,
      src: '/sample.mp4/ik-thumbnail.jpg',
      transformation: [{ width: 120 }],
      signed: true,
    });
    expect(new URL(behindPrefix).pathname.startsWith('/v/')).toBe(true);
    expect((await fetchBytes(behindPrefix)).status).toBe(200);
  });

  test('tampering with an SDK-signed URL is a 401 and the origin is never asked', async () => {
    const url = client.helper.buildSrc({
      urlEndpoint: proxy.url,
      src: '/sample.mp4/ik-thumbnail.jpg',
      transformation: [{ width: 160 }],
      signed: true,
    });
    const before = proxy.proxy.origin.stats().requests;
    expectJsonError(await fetchBytes(url.replace('w-160', 'w-1600')), 401);
    expectJsonError(await fetchBytes(url.replace('sample.mp4', 'portrait.mp4')), 401);
    expect(proxy.proxy.origin.stats().requests).toBe(before);
  });
});
