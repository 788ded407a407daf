/**
 * What a shared cache in front of the proxy (a CDN, nginx, Varnish) may store, written once.
 *
 * - A complete output (it has `Content-Length`, `ETag`, `Last-Modified`, `Accept-Ranges`) carries
 *   `CACHE_CONTROL`, the long TTL.
 * - A still-growing output (streamed while it encodes: no `Content-Length`) is `no-store`. A cache
 *   that kept it could never answer a `Range` from it (it does not know the length), and nginx
 *   would keep it for the whole TTL; the next request after the encode gets the complete output,
 *   which is stored.
 * - A signed response (`ik-t`) is never fresh past its expiry: `max-age`/`s-maxage` are cut to the
 *   seconds left, stale serving (`stale-while-revalidate`, `stale-if-error`) is dropped, and
 *   `must-revalidate` keeps a cache from serving it stale, so the revalidation reaches the proxy
 *   and gets its `401`. `Expires` names the same moment for HTTP/1.0 caches.
 * - The proxy's own cache status travels in RFC 9211 `Cache-Status`, which caches in front extend
 *   with their own entry (`X-Cache` is the proxy's tier label, which a cache would replay as is).
 */

/** RFC 9211 cache name of the proxy. */
export const CACHE_STATUS_NAME = 'ik-video-proxy';

/** `Cache-Status` values, one string each (the hot path sends them as they are). */
export const CACHE_STATUS = {
  hit: `${CACHE_STATUS_NAME}; hit`,
  miss: `${CACHE_STATUS_NAME}; fwd=miss`,
  streaming: `${CACHE_STATUS_NAME}; fwd=miss; detail=streaming`,
  /** The original bytes, read from the origin (the proxy does not cache originals). */
  original: `${CACHE_STATUS_NAME}; fwd=uri-miss; detail=original`,
} as const;

/** `Cache-Control` of anything a shared cache must not keep: errors, growing outputs. */
export const NO_STORE = 'no-store';

const STALE_DIRECTIVE = /^(stale-while-revalidate|stale-if-error)(=|$)/i;
const AGE_DIRECTIVE = /^(max-age|s-maxage)=(\d+)$/i;

/** The expiry of a signed URL in epoch seconds, when `ik-t` is a plain number. */
export function signedExpiry(ikT: string | null | undefined): number | undefined {
  return ikT && /^\d{1,12}$/.test(ikT) ? Number(ikT) : undefined;
}

/**
 * `cacheControl` for a response that expires at `expiry` (epoch seconds): every age cut to the
 * seconds left, stale serving removed, `must-revalidate` added. `no-store`/`private` answers pass
 * unchanged.
 */
export function cappedCacheControl(cacheControl: string, expiry: number, nowSeconds: number): string {
  const left = Math.max(0, Math.floor(expiry - nowSeconds));
  const directives = cacheControl
    .split(',')
    .map((directive) => directive.trim())
    .filter((directive) => directive !== '');
  if (directives.some((directive) => /^(no-store|private)$/i.test(directive))) return cacheControl;
  const kept: string[] = [];
  let sawAge = false;
  for (const directive of directives) {
    if (STALE_DIRECTIVE.test(directive) || /^must-revalidate$/i.test(directive)) continue;
    const age = AGE_DIRECTIVE.exec(directive);
    if (age) {
      sawAge = true;
      kept.push(`${age[1]}=${Math.min(Number(age[2]), left)}`);
    } else kept.push(directive);
  }
  if (!sawAge) kept.push(`max-age=${left}`);
  kept.push('must-revalidate');
  return kept.join(', ');
}

/**
 * The caching headers of a successful answer: the long TTL for a complete output, `no-store` for
 * a growing one, and for a signed URL the TTL cut at `ik-t` with `Expires` beside it.
 */
export function cachingHeaders(
  cacheControl: string,
  growing: boolean,
  expiry: number | undefined,
  nowMs = Date.now(),
): Record<string, string> {
  if (growing) return { 'Cache-Control': NO_STORE };
  if (expiry === undefined) return { 'Cache-Control': cacheControl };
  return {
    'Cache-Control': cappedCacheControl(cacheControl, expiry, nowMs / 1000),
    Expires: new Date(expiry * 1000).toUTCString(),
  };
}
