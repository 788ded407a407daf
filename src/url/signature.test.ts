import { createHmac } from 'node:crypto';
import { buildSrc, type SrcOptions } from '@imagekit/javascript';
import { describe, expect, test } from 'vitest';
import { UnauthorizedError } from '../errors.js';
import { parseRequestUrl } from './request.js';
import { signPath, verifySignature } from './signature.js';

const KEY = 'private_test_key';
const NOW = 1_750_000_000;

/**
 * `@imagekit/javascript` (a browser SDK) builds URLs but cannot sign them: it never holds the
 * private key. The server SDK (`@imagekit/nodejs`, `client.helper.buildSrc`) builds the URL with
 * that same code and then signs it with the steps below, copied step by step from its helper:
 * HMAC-SHA1 over the URL with `urlEndpoint` + "/" removed, followed by the expiry (or
 * 9999999999); then `ik-t` (only with an expiry) and `ik-s` appended with "?" or "&".
 */
function signLikeServerSdk(
  finalUrl: string,
  urlEndpoint: string,
  privateKey: string,
  expiresIn?: number,
): string {
  const expiry = expiresIn && expiresIn > 0 ? NOW + expiresIn : 9999999999;
  const endpoint = urlEndpoint.endsWith('/') ? urlEndpoint : `${urlEndpoint}/`;
  const signature = createHmac('sha1', privateKey)
    .update(finalUrl.replace(endpoint, '') + String(expiry))
    .digest('hex');
  const separator = new URL(finalUrl).searchParams.toString().length > 0 ? '&' : '?';
  return expiry !== 9999999999
    ? `${finalUrl}${separator}ik-t=${expiry}&ik-s=${signature}`
    : `${finalUrl}${separator}ik-s=${signature}`;
}

/** The request target exactly as a client sends it: the href after scheme and host, untouched. */
function requestTarget(url: string): string {
  return url.slice(new URL(url).origin.length);
}

function unauthorized(fn: () => void): UnauthorizedError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(UnauthorizedError);
    expect((error as UnauthorizedError).status).toBe(401);
    return error as UnauthorizedError;
  }
  throw new Error('expected a 401, but verification passed');
}

describe('published vectors from the ImageKit Node.js SDK test suite (key "dummy-key")', () => {
  // urlEndpoint https://ik.imagekit.io/demo/ : the proxy sees /demo/... or, behind a prefix-stripping CDN, /...
  const vectors = [
    '/demo/sdk-testing-files/future-search.png?ik-s=32dbbbfc5f945c0403c71b54c38e76896ef2d6b0',
    '/demo/sdk-testing-files/%E0%A4%B9%E0%A4%BF%E0%A4%A8%E0%A5%8D%E0%A4%A6%E0%A5%80.png?ik-s=3fff2f31da1f45e007adcdbe95f88c8c330e743c',
    '/demo/sdk-testing-files/future-search.png?version=1.0&cache=false&ik-s=f2e5a1b8b6a0b03fd63789dfc6413a94acef9fd8',
    '/demo/sdk-testing-files/future-search.png?version=2.0&tr=w-300,h-200&ik-s=601d97a7834b7554f4dabf0d3fc3a219ceeb6b31',
    '/demo/tr:w-300,h-200/sdk-testing-files/future-search.png?version=2.0&ik-s=dd1ee8f83d019bc59fd57a5fc4674a11eb8a3496',
  ];

  test.each(vectors)('%s verifies with basePath /demo', (target) => {
    expect(() => verifySignature(target, ['dummy-key'], NOW, { basePath: '/demo' })).not.toThrow();
  });

  test.each(vectors)('%s verifies with the prefix stripped before the proxy', (target) => {
    expect(() => verifySignature(target.slice('/demo'.length), ['dummy-key'], NOW)).not.toThrow();
  });

  test.each(vectors)('signPath reproduces %s', (target) => {
    const unsigned = target.replace(/[?&]ik-s=[0-9a-f]+$/, '');
    expect(signPath(unsigned, 'dummy-key', undefined, { basePath: '/demo' })).toBe(target);
  });

  test('the same vectors fail under another key', () => {
    const error = unauthorized(() => verifySignature(vectors[0]!, ['other-key'], NOW, { basePath: '/demo' }));
    expect(error.message).toBe('Wrong signature for this URL');
  });
});

describe('URLs built with @imagekit/javascript buildSrc and signed as the server SDK does', () => {
  const cases: Array<SrcOptions & { name: string; urlEndpoint: string; basePath: string }> = [
    {
      name: 'endpoint at the root, tr in the query, chained steps',
      urlEndpoint: 'http://127.0.0.1:8080',
      src: '/videos/a.mp4',
      transformation: [{ width: 300, height: 200 }, { rotation: 90 }],
      basePath: '',
    },
    {
      name: 'endpoint with a path prefix, tr in the path',
      urlEndpoint: 'https://cdn.example.com/v',
      src: '/videos/a.mp4',
      transformation: [{ width: 300, height: 200 }],
      transformationPosition: 'path',
      basePath: '/v',
    },
    {
      name: 'endpoint with a trailing slash, thumbnail suffix, spaces and accents, extra query parameters',
      urlEndpoint: 'https://cdn.example.com/v/',
      src: 'my videos/café clip.mp4/ik-thumbnail.jpg',
      transformation: [{ startOffset: 5, width: 'iw_div_2' }],
      queryParameters: { v: '1 2', x: 'a&b' },
      basePath: '/v',
    },
    {
      name: 'HLS master with a ladder',
      urlEndpoint: 'http://127.0.0.1:8080',
      src: '/videos/a.mp4/ik-master.m3u8',
      transformation: [{ streamingResolutions: ['240', '360', '720'] }],
      basePath: '',
    },
    {
      name: 'no transformation at all',
      urlEndpoint: 'https://cdn.example.com/v',
      src: '/videos/a.mp4',
      basePath: '/v',
    },
  ];

  for (const { name, basePath, ...options } of cases) {
    for (const expiresIn of [undefined, 600]) {
      const label = `${name}, ${expiresIn ? 'expiring' : 'never expiring'}`;
      const unsigned = buildSrc(options);
      const signed = signLikeServerSdk(unsigned, options.urlEndpoint, KEY, expiresIn);
      const target = requestTarget(signed);

      test(`${label}: verifies unchanged`, () => {
        expect(signed.startsWith(unsigned)).toBe(true);
        expect(() => verifySignature(target, [KEY], NOW, { basePath })).not.toThrow();
      });

      test(`${label}: signPath produces the same URL`, () => {
        const expiresAt = expiresIn ? NOW + expiresIn : undefined;
        expect(signPath(requestTarget(unsigned), KEY, expiresAt, { basePath })).toBe(target);
      });

      test(`${label}: the proxy parses the signed URL`, () => {
        const url = new URL(signed);
        const path = basePath ? url.pathname.slice(basePath.length) : url.pathname;
        const parsed = parseRequestUrl(path, url.search, { named: {} });
        expect(parsed.signature?.s).toMatch(/^[0-9a-f]{40}$/);
        expect(parsed.signature?.t).toBe(expiresIn ? String(NOW + expiresIn) : undefined);
      });

      test(`${label}: tampering fails`, () => {
        const tampered = [
          target.replace('/a.mp4', '/b.mp4').replace('clip.mp4', 'clap.mp4'),
          target.replace(/tr(=|:)/, 'tr$1q-10,'),
          target.replace(/ik-s=([0-9a-f])/, (_, c: string) => `ik-s=${c === '0' ? '1' : '0'}`),
          target.replace('ik-s=', 'extra=1&ik-s='),
        ].filter((candidate) => candidate !== target);
        // Only the tr edit can be a no-op (for the case without a transformation).
        expect(tampered.length).toBeGreaterThanOrEqual(options.transformation ? 4 : 3);
        for (const candidate of tampered) {
          expect(unauthorized(() => verifySignature(candidate, [KEY], NOW, { basePath })).message).toBe(
            'Wrong signature for this URL',
          );
        }
      });
    }
  }

  test('changing or removing the expiry fails as a wrong signature, not as expired', () => {
    const signed = signLikeServerSdk(
      buildSrc({ urlEndpoint: 'http://h', src: '/a.mp4' }),
      'http://h',
      KEY,
      60,
    );
    const target = requestTarget(signed);
    const expiry = NOW + 60;
    const later = target.replace(`ik-t=${expiry}`, `ik-t=${expiry + 3600}`);
    const without = target.replace(`ik-t=${expiry}&`, '');
    for (const candidate of [later, without]) {
      expect(candidate).not.toBe(target);
      expect(unauthorized(() => verifySignature(candidate, [KEY], NOW)).message).toBe(
        'Wrong signature for this URL',
      );
    }
  });
});

describe('verifySignature', () => {
  const target = signPath('/videos/a.mp4?tr=w-300', KEY, NOW + 60);

  test('accepts until the expiry second, then reports expired', () => {
    expect(() => verifySignature(target, [KEY], NOW + 60)).not.toThrow();
    expect(unauthorized(() => verifySignature(target, [KEY], NOW + 61)).message).toBe(
      'Signed URL has expired',
    );
  });

  test('a URL without ik-t never expires', () => {
    expect(() => verifySignature(signPath('/a.mp4', KEY), [KEY], 9_000_000_000)).not.toThrow();
  });

  test('missing signature', () => {
    expect(unauthorized(() => verifySignature('/a.mp4?tr=w-1', [KEY], NOW)).message).toMatch(
      /^Missing signature/,
    );
    expect(unauthorized(() => verifySignature('/a.mp4?ik-t=9999999999', [KEY], NOW)).message).toMatch(
      /^Missing signature/,
    );
  });

  test.each([
    ['/a.mp4?ik-s=xyz', /^Malformed signature/],
    ['/a.mp4?ik-s=', /^Malformed signature/],
    [`/a.mp4?ik-s=${'a'.repeat(41)}`, /^Malformed signature/],
    [`/a.mp4?ik-s=${'a'.repeat(40)}&ik-s=${'b'.repeat(40)}`, /^Malformed signature/],
    [`/a.mp4?ik-t=soon&ik-s=${'a'.repeat(40)}`, /^Malformed expiry/],
    [`/a.mp4?ik-t=-5&ik-s=${'a'.repeat(40)}`, /^Malformed expiry/],
    [`/a.mp4?ik-t=1&ik-t=2&ik-s=${'a'.repeat(40)}`, /^Malformed expiry/],
  ])('%s is malformed', (candidate, message) => {
    expect(unauthorized(() => verifySignature(candidate, [KEY], NOW)).message).toMatch(message);
  });

  test('upper-case hex is accepted', () => {
    const upper = target.replace(/ik-s=([0-9a-f]+)/, (_, hex: string) => `ik-s=${hex.toUpperCase()}`);
    expect(upper).not.toBe(target);
    expect(() => verifySignature(upper, [KEY], NOW)).not.toThrow();
  });

  test('any configured key verifies, so keys can be rotated', () => {
    const byOld = signPath('/a.mp4?tr=w-1', 'old-key');
    expect(() => verifySignature(byOld, ['new-key', 'old-key'], NOW)).not.toThrow();
    expect(() => verifySignature(byOld, ['new-key'], NOW)).toThrow('Wrong signature for this URL');
    expect(() => verifySignature(byOld, [], NOW)).toThrow(UnauthorizedError);
  });

  test('ik-s and ik-t may sit anywhere in the query; other parameters keep their order', () => {
    const signed = signPath('/a.mp4?b=2&a=1', KEY);
    const signature = /ik-s=([0-9a-f]+)/.exec(signed)![1];
    expect(() => verifySignature(`/a.mp4?ik-s=${signature}&b=2&a=1`, [KEY], NOW)).not.toThrow();
    expect(() => verifySignature(`/a.mp4?a=1&b=2&ik-s=${signature}`, [KEY], NOW)).toThrow('Wrong signature');
  });

  test('a fragment is not part of what is signed', () => {
    expect(() => verifySignature(`${target}#t=5`, [KEY], NOW)).not.toThrow();
  });

  test('a path outside the configured base path does not verify', () => {
    const signed = signPath('/v/a.mp4', KEY, undefined, { basePath: '/v' });
    expect(() => verifySignature(signed, [KEY], NOW, { basePath: '/v' })).not.toThrow();
    expect(() => verifySignature(signed.replace('/v/', '/w/'), [KEY], NOW, { basePath: '/v' })).toThrow(
      UnauthorizedError,
    );
  });
});

describe('signPath', () => {
  test('appends ik-t and ik-s like the SDK, replacing old ones', () => {
    const once = signPath('/a.mp4?tr=w-1', KEY, NOW);
    expect(once).toMatch(new RegExp(`^/a\\.mp4\\?tr=w-1&ik-t=${NOW}&ik-s=[0-9a-f]{40}$`));
    expect(signPath(once, KEY, NOW)).toBe(once);
    expect(signPath('/a.mp4', KEY)).toMatch(/^\/a\.mp4\?ik-s=[0-9a-f]{40}$/);
  });

  test('refuses an expiry that is not whole Unix seconds', () => {
    expect(() => signPath('/a.mp4', KEY, 1.5)).toThrow(RangeError);
    expect(() => signPath('/a.mp4', KEY, -1)).toThrow(RangeError);
  });
});
