/**
 * Authentication as ImageKit does it. Server side: HTTP Basic with a private key as the user
 * name and any password (the SDKs send `''` or `do_not_set`). Client side: `publicKey`,
 * `token`, `expire` and `signature` = hex HMAC-SHA1(private key, token + expire), the expiry at
 * most an hour ahead, each token accepted once. The checks are pure; "once" is the caller's
 * conditional create in shared storage (see `tokenRecordKey`).
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { ApiAuthError } from './errors.js';
import type { TokenFields } from './fields.js';

/** How far ahead `expire` may be (ImageKit: under an hour), plus clock skew between machines. */
export const MAX_EXPIRE_AHEAD_S = 3600;
const CLOCK_SKEW_S = 30;

function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  // Unequal lengths still cost a comparison, so timing does not tell a key's length.
  if (left.length !== right.length) {
    timingSafeEqual(left, left);
    return false;
  }
  return timingSafeEqual(left, right);
}

/** The Basic-auth user name, or `undefined` when the header is absent or not Basic. */
export function basicUser(header: string | undefined): string | undefined {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? decoded : decoded.slice(0, colon);
}

/**
 * Checks an `Authorization` header against the private keys. Any password is accepted.
 * @throws ApiAuthError (401)
 */
export function checkBasic(header: string | undefined, privateKeys: readonly string[]): void {
  if (!header)
    throw new ApiAuthError('Missing credentials: send the private API key as the Basic-auth user name');
  const user = basicUser(header);
  if (user === undefined)
    throw new ApiAuthError('Expected HTTP Basic authentication with the private API key');
  let ok = false;
  for (const key of privateKeys) ok = safeEqual(user, key) || ok;
  if (!ok) throw new ApiAuthError('Your request contains an invalid private API key');
}

/** The hex HMAC-SHA1 signature a customer's backend gives the browser. */
export function signUploadToken(privateKey: string, token: string, expire: number | string): string {
  return createHmac('sha1', privateKey).update(`${token}${expire}`).digest('hex');
}

/**
 * Checks client-side credentials (not yet their single use). Returns the expiry in Unix seconds.
 * @throws ApiAuthError (401)
 */
export function checkToken(
  fields: TokenFields,
  keys: { privateKeys: readonly string[]; publicKey: string | undefined },
  nowSeconds: number,
): number {
  if (!keys.publicKey) {
    throw new ApiAuthError('Client-side uploads are off on this server (API_PUBLIC_KEY is not set)');
  }
  if (!safeEqual(fields.publicKey, keys.publicKey))
    throw new ApiAuthError('Your request contains an invalid public key');
  if (fields.token.length > 256 || fields.token.length < 8) {
    throw new ApiAuthError('The token must be 8 to 256 characters (a UUID, for example)');
  }
  if (!/^\d{1,12}$/.test(fields.expire)) throw new ApiAuthError('expire must be a Unix time in seconds');
  const expire = Number(fields.expire);
  if (expire <= nowSeconds) throw new ApiAuthError('The upload signature has expired');
  if (expire > nowSeconds + MAX_EXPIRE_AHEAD_S + CLOCK_SKEW_S) {
    throw new ApiAuthError('expire must be less than 1 hour into the future');
  }
  const given = fields.signature.toLowerCase();
  let ok = false;
  for (const key of keys.privateKeys)
    ok = safeEqual(given, signUploadToken(key, fields.token, fields.expire)) || ok;
  if (!ok)
    throw new ApiAuthError('Invalid signature: expected HMAC-SHA1(private key, token + expire) in hex');
  return expire;
}

/**
 * Where a used token is recorded: under the hour its expiry falls in, so records older than an
 * hour can be swept by prefix. The token is hashed, so a listing shows no usable token.
 */
export function tokenRecordKey(token: string, expire: number): string {
  const hour = Math.floor(expire / 3600);
  return `tokens/${hour}/${createHash('sha256').update(token).digest('hex')}`;
}
