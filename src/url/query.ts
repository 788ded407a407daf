/** The query parameters that are part of a resource; every other one is ignored everywhere. */
const FORWARDED = new Set(['tr', 'ik-t', 'ik-s']);

/**
 * The query a playlist, manifest or seek track repeats on the URLs it lists: the request's own
 * `tr`, `ik-t` and `ik-s` pairs exactly as sent (so a signature over them still verifies), in
 * their order, and nothing else, so no other parameter can reach a cached body. Returns '' or a
 * string starting with `?`.
 */
export function forwardedQuery(search: string): string {
  const raw = search.startsWith('?') ? search.slice(1) : search;
  if (raw === '') return '';
  const kept = raw.split('&').filter((pair) => {
    const name = pair.split('=', 1)[0] ?? '';
    let decoded = name;
    try {
      decoded = decodeURIComponent(name.replace(/\+/g, ' '));
    } catch {
      return false;
    }
    return FORWARDED.has(decoded);
  });
  return kept.length ? `?${kept.join('&')}` : '';
}
