import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { isCacheHit } from '../../src/cli/warm.js';
import {
  AUTO_FORMAT_MARKER,
  browserClass,
  CLASS_USER_AGENT_PREFIX,
  classUserAgent,
  MP4_ONLY_PATTERN,
  OTHER_USER_AGENT,
  WEBM_PATTERN,
} from '../../src/plan/browser-class.js';
import { chooseAutoFormat } from '../../src/plan/video.js';
import { PARAM_ORDER } from '../../src/url/params.js';
import { KEY_QUERY_PARAMETERS } from '../../src/url/query.js';
import { REPO_ROOT } from '../support/fixtures.js';
import { BROWSERS } from './user-agents.js';

/**
 * The shipped CDN configurations spell the proxy's browser-class rules exactly (so they cannot
 * drift from src/plan/browser-class.ts), and keep each of the strings a copier changes once.
 */

const CDN_DIR = path.join(REPO_ROOT, 'deploy', 'cdn');
const read = (name: string) => readFile(path.join(CDN_DIR, name), 'utf8');
const count = (text: string, needle: string) => text.split(needle).length - 1;

test('the proxy classes the 20 browser strings as expected, and reads the normalised class back', () => {
  for (const browser of BROWSERS) {
    expect(browserClass(browser.userAgent), browser.name).toBe(browser.expected);
    expect(chooseAutoFormat(browser.userAgent), browser.name).toBe(browser.expected);
    expect(browserClass(classUserAgent(browser.expected))).toBe(browser.expected);
  }
  // What the configs send for every URL without the marker: one class (MP4) for all browsers.
  expect(browserClass(OTHER_USER_AGENT)).toBe('mp4');
  expect(browserClass(undefined)).toBe('mp4');
  expect(browserClass('curl/8.4.0')).toBe('mp4');
});

describe('deploy/cdn/nginx.conf', () => {
  test('holds the class patterns, normalised agents and the three substitutable strings once', async () => {
    const conf = await read('nginx.conf');
    expect(conf).toContain(`"~${MP4_ONLY_PATTERN}" mp4;`);
    expect(conf).toContain(`"~${WEBM_PATTERN}" webm;`);
    expect(conf).toContain(`"~${AUTO_FORMAT_MARKER}" 1;`);
    expect(conf).toContain(`webm "${CLASS_USER_AGENT_PREFIX}webm";`);
    expect(conf).toContain(`mp4 "${CLASS_USER_AGENT_PREFIX}mp4";`);
    expect(conf).toContain(`default "${OTHER_USER_AGENT}";`);
    for (const needle of ['127.0.0.1:8080', '127.0.0.1:8081', '/var/cache/ik-video-proxy'])
      expect(count(conf, needle), needle).toBe(1);
    expect(conf).toMatch(
      /proxy_cache_key "\$ikvp_path\|\$arg_tr\|\$ikvp_signature\|\$ikvp_expiry\|\$ikvp_class";/,
    );
    expect(conf).toMatch(/^\s*proxy_ignore_headers Vary;/m);
    expect(conf).toMatch(/^\s*proxy_cache_revalidate on;/m);
    expect(conf).toMatch(/^\s*proxy_cache_lock off;/m);
  });
});

describe('deploy/cdn/varnish.vcl', () => {
  test('holds the class patterns, the normalised agent and the backend strings once', async () => {
    const vcl = await read('varnish.vcl');
    expect(vcl.startsWith('vcl 4.1;')).toBe(true);
    expect(vcl).toContain(`req.http.User-Agent ~ "${MP4_ONLY_PATTERN}"`);
    expect(vcl).toContain(`req.http.User-Agent ~ "${WEBM_PATTERN}"`);
    expect(vcl).toContain(`req.url ~ "${AUTO_FORMAT_MARKER}"`);
    expect(vcl).toContain(`"${CLASS_USER_AGENT_PREFIX}" + req.http.X-Ikvp-Class`);
    expect(vcl).toContain(`set req.http.User-Agent = "${OTHER_USER_AGENT}";`);
    expect(count(vcl, '.host = "127.0.0.1";')).toBe(1);
    expect(count(vcl, '.port = "8080";')).toBe(1);
    for (const name of KEY_QUERY_PARAMETERS) expect(vcl).toContain(`hash_data("${name}=" + regsub(`);
  });
});

describe('deploy/cdn/cloudfront-viewer-request.js', () => {
  test('spells the same patterns, key parameters and parameter order as the proxy', async () => {
    const code = await read('cloudfront-viewer-request.js');
    expect(code).toContain(`var MP4_ONLY = /${MP4_ONLY_PATTERN.replace(/\//g, '\\/')}/;`);
    expect(code).toContain(`var WEBM = /${WEBM_PATTERN.replace(/\//g, '\\/')}/;`);
    expect(code).toContain(`var CLASS_USER_AGENT_PREFIX = '${CLASS_USER_AGENT_PREFIX}';`);
    expect(code).toContain(`var OTHER_USER_AGENT = '${OTHER_USER_AGENT}';`);
    expect(code).toContain(
      `var KEY_QUERY = ${JSON.stringify(KEY_QUERY_PARAMETERS).replace(/"/g, "'").replace(/,/g, ', ')};`,
    );
    expect(code).toContain(
      `var PARAM_ORDER = ${JSON.stringify(PARAM_ORDER).replace(/"/g, "'").replace(/,/g, ', ')};`,
    );
  });
});

test('npm run warm counts a hit of any cache on the way (Cache-Status), or the X-Cache of the proxy', () => {
  expect(isCacheHit('ik-video-proxy; fwd=miss, nginx; hit')).toBe(true);
  expect(isCacheHit('ik-video-proxy; hit, varnish; fwd=miss')).toBe(true);
  expect(isCacheHit('ik-video-proxy; fwd=miss; detail=streaming, nginx; fwd=miss')).toBe(false);
  expect(isCacheHit('nginx; fwd=stale; fwd-status=304')).toBe(false);
  expect(isCacheHit('HIT-DISK')).toBe(true);
  expect(isCacheHit('MISS-STREAMING')).toBe(false);
  expect(isCacheHit(null)).toBe(false);
});
