import { readFileSync } from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { classUserAgent } from '../../src/plan/browser-class.js';
import { trQuery } from '../../src/url/query.js';
import { parseRequestUrl } from '../../src/url/request.js';
import { REPO_ROOT } from '../support/fixtures.js';
import { BROWSERS } from './user-agents.js';

/**
 * The shipped CloudFront Function, run under Node's vm with CloudFront's viewer-request event
 * shape (cloudfront-js-2.0: a top-level `function handler(event)` returning the request).
 */

interface CfValue {
  value: string;
}
interface CfRequest {
  method: string;
  uri: string;
  querystring: Record<string, CfValue>;
  headers: Record<string, CfValue>;
  cookies: Record<string, CfValue>;
}

const code = readFileSync(path.join(REPO_ROOT, 'deploy', 'cdn', 'cloudfront-viewer-request.js'), 'utf8');
const context = vm.createContext({});
vm.runInContext(code, context, { filename: 'cloudfront-viewer-request.js' });
const handler = context.handler as (event: unknown) => CfRequest;

function run(uri: string, query: Record<string, string>, userAgent?: string): CfRequest {
  const querystring: Record<string, CfValue> = {};
  for (const [name, value] of Object.entries(query)) querystring[name] = { value };
  const headers: Record<string, CfValue> = { host: { value: 'd111111abcdef8.cloudfront.net' } };
  if (userAgent !== undefined) headers['user-agent'] = { value: userAgent };
  const event = {
    version: '1.0',
    context: {
      distributionDomainName: 'd111111abcdef8.cloudfront.net',
      distributionId: 'EDFDVBD6EXAMPLE',
      eventType: 'viewer-request',
      requestId: 'EXAMPLE',
    },
    viewer: { ip: '198.51.100.11' },
    request: { method: 'GET', uri, querystring, headers, cookies: { session: { value: 'x' } } },
  };
  // Round-trip through JSON: the function must return plain data CloudFront can read.
  return JSON.parse(JSON.stringify(handler(event))) as CfRequest;
}

/** The proxy's canonical tr for a spelling, as the query value the function should write. */
function proxyCanonical(tr: string): string {
  const request = parseRequestUrl('/clip.mp4', new URLSearchParams({ tr }), { named: {} });
  return trQuery(request.canonical).slice('?tr='.length);
}

describe('f-auto and the browser class', () => {
  test('each of the 20 browsers gets its class; two browsers of one class are identical requests', () => {
    const byClass = new Map<string, string>();
    for (const browser of BROWSERS) {
      const request = run('/clip.mp4', { tr: 'f-auto,w-320', utm_source: 'news' }, browser.userAgent);
      expect(request.headers['user-agent']?.value, browser.name).toBe(classUserAgent(browser.expected));
      const serialised = JSON.stringify(request);
      const seen = byClass.get(browser.expected);
      if (seen) expect(serialised, browser.name).toBe(seen);
      else byClass.set(browser.expected, serialised);
    }
    expect(byClass.size).toBe(2);
  });

  test('URLs without f-auto are one request for every browser', () => {
    const requests = new Set(
      BROWSERS.map((browser) => JSON.stringify(run('/clip.mp4', { tr: 'w-320' }, browser.userAgent))),
    );
    requests.add(JSON.stringify(run('/clip.mp4', { tr: 'w-320' })));
    expect(requests.size).toBe(1);
    const thumbnails = new Set(
      BROWSERS.map((b) => JSON.stringify(run('/clip.mp4/ik-thumbnail.jpg', {}, b.userAgent))),
    );
    expect(thumbnails.size).toBe(1);
  });

  test('f-auto in the path form counts too', () => {
    const request = run('/tr:f-auto,w-320/clip.mp4', {}, BROWSERS[0]!.userAgent);
    expect(request.headers['user-agent']?.value).toBe(classUserAgent('webm'));
  });
});

describe('the cache key holds only tr, ik-s and ik-t, canonically spelled when unsigned', () => {
  test('other query strings are dropped', () => {
    const request = run('/clip.mp4', { tr: 'w-320', 'ik-t': '2000000000', utm: 'x', v: '2' });
    expect(Object.keys(request.querystring).sort()).toEqual(['ik-t', 'tr']);
  });

  test('spellings of one transformation become the proxy canonical', () => {
    const spellings = ['w-202,f-mp4', 'f-mp4,w-202', 'f-mp4:w-202', 'w-202%2Cf-mp4', 'f-mp4%3Aw-202'];
    const values = new Set(spellings.map((tr) => run('/clip.mp4', { tr }).querystring.tr?.value));
    expect([...values]).toEqual([proxyCanonical('w-202,f-mp4')]);
    const paths = new Set(
      ['/tr:f-mp4,w-202/clip.mp4', '/tr:w-202,f-mp4/clip.mp4'].map((u) => run(u, {}).uri),
    );
    expect([...paths]).toEqual(['/tr:w-202,f-mp4/clip.mp4']);
  });

  test('any order and step split of valid parameters gives exactly the proxy canonical', () => {
    const params = ['w-320', 'h-180', 'c-at_max', 'bg-FF0000', 'rt-90', 'q-60', 'f-webm', 'so-1', 'du-2.5'];
    fc.assert(
      fc.property(
        fc.shuffledSubarray(params, { minLength: 1 }),
        fc.array(fc.boolean(), { minLength: 9, maxLength: 9 }),
        (chosen, splits) => {
          const tr = chosen.map((param, i) => (i === 0 ? param : (splits[i] ? ':' : ',') + param)).join('');
          expect(run('/clip.mp4', { tr }).querystring.tr?.value).toBe(proxyCanonical(tr));
        },
      ),
      { numRuns: 200 },
    );
  });

  test('a signed URL is left exactly as signed', () => {
    const query = { tr: 'f-mp4,w-202', 'ik-t': '2000000000', 'ik-s': 'abc123' };
    expect(run('/clip.mp4', query).querystring).toEqual({
      tr: { value: 'f-mp4,w-202' },
      'ik-t': { value: '2000000000' },
      'ik-s': { value: 'abc123' },
    });
    expect(run('/tr:f-mp4,w-202/clip.mp4', { 'ik-s': 'abc123' }).uri).toBe('/tr:f-mp4,w-202/clip.mp4');
  });

  test('layers, named transformations, repeats and garbage are left for the proxy to judge', () => {
    for (const tr of ['l-image,i-logo.png,l-end,w-100', 'n-thumb,w-100', 'w-1,w-2', '%E0%A4%A', 'zz-1']) {
      expect(run('/clip.mp4', { tr }).querystring.tr?.value).toBe(tr);
    }
  });
});
