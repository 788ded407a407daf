import { createHmac, timingSafeEqual } from 'node:crypto';

/** Public stream names: what viewers put in `/live/<name>/...`. */
export const STREAM_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Parses `LIVE_STREAM_KEYS` (`name=key,...`) into key -> name. Pure; throws a message naming the
 * bad entry (the config loader reports it with the variable's name).
 */
export function parseStreamKeys(raw: string): Map<string, string> {
  const keys = new Map<string, string>();
  const names = new Set<string>();
  const entries = raw
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean);
  for (const [index, entry] of entries.entries()) {
    const at = entry.indexOf('=');
    const name = entry.slice(0, at);
    const key = entry.slice(at + 1);
    // The message never repeats a key: it may be a secret that ends up in a log.
    if (at < 1 || !STREAM_NAME.test(name))
      throw new Error(`entry ${index + 1} must be name=key with a name of letters, digits, '_' or '-'`);
    if (key.length < 8 || /[\s?/]/.test(key))
      throw new Error(`the key for '${name}' must be at least 8 characters without spaces, '?' or '/'`);
    if (keys.has(key)) throw new Error(`two streams share the key given for '${name}'`);
    if (names.has(name)) throw new Error(`'${name}' is listed twice`);
    keys.set(key, name);
    names.add(name);
  }
  return keys;
}

function signature(name: string, expires: number, secret: string): string {
  return createHmac('sha256', secret).update(`live/${name}/${expires}`).digest('hex').slice(0, 32);
}

/**
 * A signed stream key: `<name>.<expires>.<signature>`, the signature an HMAC-SHA256 of
 * `live/<name>/<expires>` with the first `SIGNING_KEY` (hex, 32 characters). Lets a back end hand
 * out a key for one stream and a limited time without changing the proxy's configuration.
 */
export function signStreamKey(name: string, expires: number, secret: string): string {
  return `${name}.${expires}.${signature(name, expires, secret)}`;
}

function equal(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/**
 * The stream name a publisher's key opens, or undefined. Listed keys are compared in constant
 * time; a signed key must carry a valid signature under one of `secrets` (rotation) and an
 * expiry in the future (it is checked when publishing starts; a stream already live goes on).
 */
export function streamForKey(
  key: string,
  listed: ReadonlyMap<string, string>,
  secrets: readonly string[],
  nowSeconds = Math.floor(Date.now() / 1000),
): string | undefined {
  let found: string | undefined;
  for (const [candidate, name] of listed) if (equal(candidate, key)) found = name;
  if (found) return found;
  const match = /^([A-Za-z0-9_-]{1,64})\.(\d{1,12})\.([0-9a-f]{32})$/.exec(key);
  if (!match) return undefined;
  const [, name, expiresText, given] = match;
  const expires = Number(expiresText);
  if (expires <= nowSeconds) return undefined;
  return secrets.some((secret) => equal(signature(name!, expires, secret), given!)) ? name : undefined;
}
