import { createHmac, timingSafeEqual } from 'node:crypto';
import { UnauthorizedError } from '../errors.js';

/** The expiry ImageKit signs when a URL never expires. */
export const NO_EXPIRY = '9999999999';
const SIGNATURE_PARAM = 'ik-s';
const EXPIRY_PARAM = 'ik-t';

/** Options shared by `signPath` and `verifySignature`. */
export interface SignatureOptions {
  /**
   * Path prefix of the proxy's public URL when the proxy sees it too (e.g. `/v` for a
   * `urlEndpoint` of `https://cdn.example.com/v` forwarded unchanged). The signed string starts
   * after `<basePath>/`, as the SDK's does after `<urlEndpoint>/`.
   */
  basePath?: string;
}

/** A request target split into the string ImageKit signs and the signature parts it carried. */
interface SignedParts {
  /** The URL without endpoint, leading `/`, `ik-s` and `ik-t`; other query parameters kept verbatim. */
  signed: string;
  signatures: string[];
  expiries: string[];
}

function queryKey(part: string): string {
  const eq = part.indexOf('=');
  const key = eq < 0 ? part : part.slice(0, eq);
  try {
    return decodeURIComponent(key.replace(/\+/g, ' '));
  } catch {
    return key;
  }
}

function queryValue(part: string): string {
  const eq = part.indexOf('=');
  const value = eq < 0 ? '' : part.slice(eq + 1);
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    return value;
  }
}

function stripBase(path: string, basePath: string | undefined): string {
  const base = (basePath ?? '').replace(/\/+$/, '');
  if (base === '') return path.replace(/^\//, '');
  if (path === base || path.startsWith(`${base}/`)) return path.slice(base.length + 1);
  // Not under the prefix: sign what is there, so verification fails rather than guessing.
  return path.replace(/^\//, '');
}

/**
 * Works on the raw request target: the SDK signs the URL exactly as it is written (percent
 * encoding and query order included), so nothing here may decode and re-encode it.
 */
function splitSigned(pathAndQuery: string, basePath: string | undefined): SignedParts {
  const hash = pathAndQuery.indexOf('#');
  const target = hash < 0 ? pathAndQuery : pathAndQuery.slice(0, hash);
  const mark = target.indexOf('?');
  const path = mark < 0 ? target : target.slice(0, mark);
  const query = mark < 0 ? '' : target.slice(mark + 1);
  const kept: string[] = [];
  const signatures: string[] = [];
  const expiries: string[] = [];
  for (const part of query === '' ? [] : query.split('&')) {
    const key = queryKey(part);
    if (key === SIGNATURE_PARAM) signatures.push(queryValue(part));
    else if (key === EXPIRY_PARAM) expiries.push(queryValue(part));
    else kept.push(part);
  }
  const rest = stripBase(path, basePath);
  return { signed: kept.length > 0 ? `${rest}?${kept.join('&')}` : rest, signatures, expiries };
}

function hmacHex(key: string, message: string): string {
  return createHmac('sha1', key).update(message).digest('hex');
}

/**
 * Signs a path+query the way ImageKit's SDKs do and returns it with `ik-t` (when `expiresAt`,
 * Unix seconds, is given) and `ik-s` appended. Existing `ik-s`/`ik-t` parameters are replaced.
 *
 * @example signPath('/videos/a.mp4?tr=w-300', key) // '/videos/a.mp4?tr=w-300&ik-s=3f9c...'
 */
export function signPath(
  pathAndQuery: string,
  key: string,
  expiresAt?: number,
  options: SignatureOptions = {},
): string {
  if (expiresAt !== undefined && (!Number.isInteger(expiresAt) || expiresAt < 0)) {
    throw new RangeError(`expiresAt must be a non-negative integer of Unix seconds, got ${expiresAt}`);
  }
  const hash = pathAndQuery.indexOf('#');
  const target = hash < 0 ? pathAndQuery : pathAndQuery.slice(0, hash);
  const { signed } = splitSigned(target, options.basePath);
  const expiry = expiresAt === undefined ? NO_EXPIRY : String(expiresAt);
  const signature = hmacHex(key, signed + expiry);
  const mark = target.indexOf('?');
  const path = mark < 0 ? target : target.slice(0, mark);
  const keptQuery = signed.includes('?') ? signed.slice(signed.indexOf('?') + 1) : '';
  const extra = expiresAt === undefined ? `ik-s=${signature}` : `ik-t=${expiry}&ik-s=${signature}`;
  return `${path}?${keptQuery === '' ? '' : `${keptQuery}&`}${extra}`;
}

/**
 * Verifies an ImageKit signature on a raw request target (`/path?query`, exactly as received).
 * Any of `keys` may have signed it, so keys can be rotated. The HMAC is checked before the
 * expiry, so an `ik-t` that was tampered with reads as a wrong signature, not as expired.
 *
 * @throws UnauthorizedError (401) saying whether the signature is missing, malformed, wrong or expired.
 */
export function verifySignature(
  pathAndQuery: string,
  keys: readonly string[],
  nowSeconds: number,
  options: SignatureOptions = {},
): void {
  const { signed, signatures, expiries } = splitSigned(pathAndQuery, options.basePath);
  if (signatures.length === 0)
    throw new UnauthorizedError('Missing signature: this URL must be signed (ik-s)');
  const [given] = signatures;
  if (signatures.length > 1 || given === undefined || !/^[0-9a-f]{40}$/i.test(given)) {
    throw new UnauthorizedError('Malformed signature: ik-s must be one 40-digit hex HMAC-SHA1');
  }
  const [expiry] = expiries;
  if (expiries.length > 1 || (expiry !== undefined && !/^\d{1,12}$/.test(expiry))) {
    throw new UnauthorizedError('Malformed expiry: ik-t must be one Unix time in seconds');
  }
  const givenBytes = Buffer.from(given.toLowerCase(), 'hex');
  const message = signed + (expiry ?? NO_EXPIRY);
  let matched = false;
  for (const key of keys) {
    // Every key is tried even after a match so timing does not reveal which key signed.
    const expected = Buffer.from(hmacHex(key, message), 'hex');
    if (timingSafeEqual(expected, givenBytes)) matched = true;
  }
  if (!matched) throw new UnauthorizedError('Wrong signature for this URL');
  if (expiry !== undefined && Number(expiry) < nowSeconds) {
    throw new UnauthorizedError('Signed URL has expired');
  }
}
