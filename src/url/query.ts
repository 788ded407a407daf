import { BadRequestError } from '../errors.js';

/**
 * The only query parameters that reach a response, so the only ones a cache key (the proxy's, a
 * CDN's: deploy/cdn/) holds; every other one is ignored everywhere.
 */
export const KEY_QUERY_PARAMETERS = ['tr', 'ik-s', 'ik-t'] as const;

const FORWARDED = new Set<string>(KEY_QUERY_PARAMETERS);

/** Longest query a playlist may repeat on each of its URLs (it is written once per segment). */
export const MAX_FORWARDED_QUERY_LENGTH = 4096;

/** What decides the query a listing repeats. */
export interface ForwardedQueryInput {
  /** The request's query string, with or without the leading `?`. */
  search: string;
  /** The request's canonical `tr` (`ProxyRequest.canonical`). */
  canonical: string;
  /** True when the request carries an `ik-s` this deployment has verified. */
  signed: boolean;
}

function decodedName(pair: string): string | undefined {
  try {
    return decodeURIComponent((pair.split('=', 1)[0] ?? '').replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

/** `?tr=<canonical>`, with the commas and colons of the chain left readable. */
export function trQuery(canonical: string): string {
  return `?tr=${encodeURIComponent(canonical).replace(/%2C/g, ',').replace(/%3A/g, ':')}`;
}

/**
 * The query a playlist, manifest or seek track repeats on the URLs it lists, and so the only part
 * of the query that reaches those bodies and their cache keys.
 *
 * - A verified signed request repeats its own `tr`, `ik-t` and `ik-s` pairs exactly as sent, in
 *   their order, so the listed URLs verify with the same signature. The signature pins the
 *   spelling: nobody without the key can make a second variant.
 * - Any other request repeats only its canonical `tr` (when `tr` came in the query), so every
 *   spelling of one transformation (`sr-240`, `sr%2D240`...) is one body and one cache entry, and
 *   an unverified `ik-t`/`ik-s` never reaches a body.
 *
 * Returns '' or a string starting with `?`; a longer query than any playlist should repeat is a 400.
 */
export function forwardedQuery({ search, canonical, signed }: ForwardedQueryInput): string {
  const raw = search.startsWith('?') ? search.slice(1) : search;
  if (raw === '') return '';
  const pairs = raw.split('&');
  let query: string;
  if (signed) {
    const kept = pairs.filter((pair) => FORWARDED.has(decodedName(pair) ?? ''));
    query = kept.length ? `?${kept.join('&')}` : '';
  } else {
    const hasTr = pairs.some((pair) => decodedName(pair) === 'tr');
    query = hasTr && canonical ? trQuery(canonical) : '';
  }
  if (query.length > MAX_FORWARDED_QUERY_LENGTH) {
    throw new BadRequestError(
      `The tr, ik-t and ik-s parameters are longer than ${MAX_FORWARDED_QUERY_LENGTH} characters`,
      'tr',
    );
  }
  return query;
}
