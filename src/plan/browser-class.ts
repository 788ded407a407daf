/**
 * The browser classes `f-auto` chooses between, written once. The proxy picks a format from them
 * (`chooseAutoFormat`), and the shipped CDN configurations (`deploy/cdn/nginx.conf`,
 * `varnish.vcl`, `cloudfront-viewer-request.js`) put the same class into their cache key and
 * send the proxy the class's normalised `User-Agent`. Tests run all of them over the same real
 * browser strings (test/cdn/), and check that each config spells these patterns exactly.
 */

/** A browser class: the format `f-auto` gives it. */
export type BrowserClass = 'webm' | 'mp4';

/** Every browser on iOS/iPadOS is WebKit underneath (Chrome, Firefox and Edge there too): MP4. */
export const MP4_ONLY_PATTERN = 'iPhone|iPad|iPod';

/** Chromium-based browsers and Firefox play WebM/VP9. Anything else (Safari, unknown) gets MP4. */
export const WEBM_PATTERN = 'Firefox/|Chrome/|Chromium/|Edg/|OPR/';

/** The `User-Agent` a CDN sends for a class once it has put the class into its key. */
export const CLASS_USER_AGENT_PREFIX = 'ik-video-proxy-class/';

/**
 * The `User-Agent` a CDN sends for every URL without the marker. An `f-auto` it cannot see
 * (percent-encoded, inside a named transformation) then gets one format (MP4) for every browser,
 * as its class-free key says.
 */
export const OTHER_USER_AGENT = `${CLASS_USER_AGENT_PREFIX}any`;

/** What a CDN looks for in a request line to decide that the class belongs in the key. */
export const AUTO_FORMAT_MARKER = 'f-auto';

const MP4_ONLY = new RegExp(MP4_ONLY_PATTERN);
const WEBM = new RegExp(WEBM_PATTERN);
const NORMALISED = new RegExp(`^${CLASS_USER_AGENT_PREFIX.replace(/[/.]/g, '\\$&')}(webm|mp4)$`);

/**
 * The class of a `User-Agent`: a CDN's normalised value names it, otherwise iOS devices are MP4,
 * Chromium and Firefox WebM, and everything else (Safari, unknown clients, none) MP4.
 */
export function browserClass(userAgent: string | undefined): BrowserClass {
  if (!userAgent) return 'mp4';
  const normalised = NORMALISED.exec(userAgent);
  if (normalised) return normalised[1] as BrowserClass;
  if (MP4_ONLY.test(userAgent)) return 'mp4';
  if (WEBM.test(userAgent)) return 'webm';
  return 'mp4';
}

/** The normalised `User-Agent` of a class (what the shipped CDN configs send the proxy). */
export function classUserAgent(browser: BrowserClass): string {
  return `${CLASS_USER_AGENT_PREFIX}${browser}`;
}
