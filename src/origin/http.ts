import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import type { Readable } from 'node:stream';
import { Agent, buildConnector, type Dispatcher, request } from 'undici';
import {
  NotFoundError,
  OriginError,
  OriginTimeoutError,
  ProxyError,
  RangeNotSatisfiableError,
} from '../errors.js';
import { isForbiddenAddress } from './address.js';
import { chooseContentType } from './content-type.js';
import { ORIGIN_MESSAGES } from './messages.js';
import { sourcePathSegments } from './source-path.js';
import { windowStream } from './stream.js';
import type { ByteRange, Origin, SourceStat } from './types.js';

/** Where an HTTP origin reads from and what it may connect to. */
export interface HttpOriginOptions {
  /** Base URL sources are appended to (a trailing `/` is added when missing). */
  baseUrl: string;
  /** Budget for connecting, for response headers, and for each silence while a body streams. */
  timeoutMs: number;
  /** Extra URL prefixes redirects may lead to, besides `baseUrl`. */
  allowlist: string[];
  /** Allow loopback/private/link-local targets (tests and trusted networks only). */
  allowPrivate: boolean;
  /** Which resolved addresses to refuse; `isForbiddenAddress` unless a test narrows it. */
  isForbidden?: (ip: string) => boolean;
}

const MAX_REDIRECTS = 3;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);
const REQUEST_HEADERS = {
  // A compressed body would make sizes and byte ranges meaningless.
  'accept-encoding': 'identity',
  'user-agent': 'ik-video-proxy',
};

/** The error for a connection the SSRF guard refused; the address is named only in the log. */
function forbiddenAddressError(target: string): OriginError {
  return new OriginError('The origin resolves to an address the proxy may not connect to', {
    detail: `SSRF guard refused ${target}`,
  });
}

/**
 * A DNS lookup for `net.connect` that refuses the whole name when any address it resolves to is
 * forbidden, so the address checked is the address connected to (no DNS-rebinding window).
 */
function guardedLookup(isForbidden: (ip: string) => boolean): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
      if (error) {
        callback(error, '', 0);
        return;
      }
      if (addresses.length === 0 || addresses.some((entry) => isForbidden(entry.address))) {
        const resolved = addresses.map((entry) => entry.address).join(', ');
        callback(
          forbiddenAddressError(`${hostname} (${resolved})`) as unknown as NodeJS.ErrnoException,
          '',
          0,
        );
        return;
      }
      if (options.all) {
        (callback as unknown as (error: null, all: LookupAddress[]) => void)(null, addresses);
        return;
      }
      const first = addresses[0]!;
      callback(null, first.address, first.family);
    });
  };
}

/**
 * An undici `Agent` whose every connection passes the SSRF guard (design §6) at connect time:
 * IP literals are checked directly, names through a guarded DNS lookup. With `allowPrivate` it
 * is a plain agent with the timeouts.
 */
export function createGuardedAgent(options: {
  timeoutMs: number;
  allowPrivate: boolean;
  isForbidden?: (ip: string) => boolean;
}): Agent {
  const { timeoutMs, allowPrivate, isForbidden = isForbiddenAddress } = options;
  const base = buildConnector(
    allowPrivate ? { timeout: timeoutMs } : { timeout: timeoutMs, lookup: guardedLookup(isForbidden) },
  );
  const connect: buildConnector.connector = (connectOptions, callback) => {
    const host = connectOptions.hostname.replace(/^\[|\]$/g, '');
    if (!allowPrivate && isIP(host) !== 0 && isForbidden(host)) {
      callback(forbiddenAddressError(host), null);
      return;
    }
    base(connectOptions, callback);
  };
  return new Agent({ connect, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
}

/** Parses an allowlist entry (or the base URL) into a comparable prefix. */
function toPrefix(raw: string): URL {
  const url = new URL(raw);
  if (!url.pathname.endsWith('/')) url.pathname = `${url.pathname}/`;
  url.search = '';
  url.hash = '';
  return url;
}

/**
 * Whether `target` lies under `prefix`: same scheme, host and port (compared parsed, so
 * `http://example.com@evil.com` and `http://example.com.evil.com` are different hosts) and a
 * path that starts with the prefix's path up to a `/`.
 */
export function isUnderPrefix(target: URL, prefix: URL): boolean {
  if (target.username || target.password) return false;
  if (target.protocol !== prefix.protocol || target.host !== prefix.host) return false;
  return target.pathname.startsWith(prefix.pathname) || `${target.pathname}/` === prefix.pathname;
}

/** `bytes start-end/total` (total may be `*`) or `bytes *\/total`, as numbers. */
function parseContentRange(
  header: string | undefined,
): { start?: number; end?: number; total?: number } | undefined {
  if (!header) return undefined;
  const match = /^\s*bytes\s+(?:(\d+)-(\d+)|\*)\/(\d+|\*)\s*$/i.exec(header);
  if (!match) return undefined;
  return {
    start: match[1] === undefined ? undefined : Number(match[1]),
    end: match[2] === undefined ? undefined : Number(match[2]),
    total: match[3] === '*' ? undefined : Number(match[3]),
  };
}

function header(response: Dispatcher.ResponseData, name: string): string | undefined {
  const value = response.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function contentLength(response: Dispatcher.ResponseData): number | undefined {
  const raw = header(response, 'content-length');
  return raw !== undefined && /^\d+$/.test(raw.trim()) ? Number(raw) : undefined;
}

function discard(response: Dispatcher.ResponseData): void {
  // Destroying rather than draining: the body may be a whole video the server refused to range.
  // undici reports the abort as an 'error' event nobody else listens for.
  response.body.on('error', () => undefined);
  response.body.destroy();
}

/**
 * Turns an undici/socket failure into the proxy's vocabulary. `where` (the URL asked for) goes
 * to the error's log-only `detail`; the public message names no host or port.
 */
function translate(error: unknown, signal: AbortSignal | undefined, where?: string): unknown {
  if (signal?.aborted) return signal.reason;
  if (error instanceof ProxyError) return error;
  const code = (error as { code?: string } | undefined)?.code;
  const detail = where && `${code ?? 'request'} for ${where}`;
  if (code && TIMEOUT_CODES.has(code))
    return new OriginTimeoutError(ORIGIN_MESSAGES.timeout, { cause: error, detail });
  return new OriginError('The connection to the origin failed', { cause: error, detail });
}

/**
 * Sources from an HTTP(S) server under a base URL. Sizes come from a ranged `GET bytes=0-0`
 * (presigned URLs refuse HEAD), reads use `Range`, and a server that ignores ranges is skipped
 * through and cut off rather than buffered. Every connection, redirects included, passes the
 * SSRF guard; redirects are followed by hand, at most three, and only into the allowlist.
 */
export class HttpOrigin implements Origin {
  readonly kind = 'http';
  readonly #base: URL;
  readonly #allowed: URL[];
  readonly #agent: Agent;
  readonly #timeoutMs: number;

  constructor(options: HttpOriginOptions) {
    this.#base = toPrefix(options.baseUrl);
    if (!/^https?:$/.test(this.#base.protocol))
      throw new OriginError('The origin base URL must be http or https');
    this.#allowed = [this.#base, ...options.allowlist.map(toPrefix)];
    this.#agent = createGuardedAgent(options);
    this.#timeoutMs = options.timeoutMs;
  }

  #url(source: string): URL {
    const encoded = sourcePathSegments(source).map(encodeURIComponent).join('/');
    return new URL(encoded, this.#base);
  }

  /** One request with manual, allowlisted redirects. Statuses are left to the caller. */
  async #send(
    url: URL,
    method: 'GET' | 'HEAD',
    range: string | undefined,
    signal: AbortSignal | undefined,
    followRedirects = true,
  ): Promise<Dispatcher.ResponseData> {
    signal?.throwIfAborted();
    // undici's own header timeout ticks in coarse steps; this deadline holds to the millisecond and
    // covers every hop. It is cleared once an answer arrives, so it never cuts a streaming body.
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), this.#timeoutMs);
    const combined = signal ? AbortSignal.any([signal, deadline.signal]) : deadline.signal;
    try {
      return await this.#follow(url, method, range, combined, followRedirects);
    } catch (error) {
      if (deadline.signal.aborted && !signal?.aborted) {
        throw new OriginTimeoutError(ORIGIN_MESSAGES.timeout, {
          cause: error,
          detail: `no answer within ${this.#timeoutMs} ms for ${url.href}`,
        });
      }
      throw translate(error, signal, url.href);
    } finally {
      clearTimeout(timer);
    }
  }

  async #follow(
    url: URL,
    method: 'GET' | 'HEAD',
    range: string | undefined,
    signal: AbortSignal,
    followRedirects: boolean,
  ): Promise<Dispatcher.ResponseData> {
    let current = url;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const response = await request(current, {
        method,
        headers: range ? { ...REQUEST_HEADERS, range } : REQUEST_HEADERS,
        dispatcher: this.#agent,
        signal,
      });
      if (!followRedirects || !REDIRECT_STATUSES.has(response.statusCode)) return response;
      discard(response);
      const location = header(response, 'location');
      let next: URL;
      try {
        next = new URL(location ?? '', current);
      } catch {
        throw new OriginError('The origin sent a redirect without a valid Location');
      }
      if (!location || !this.#allowed.some((prefix) => isUnderPrefix(next, prefix))) {
        throw new OriginError('The origin redirected outside the allowed origins');
      }
      current = next;
    }
    throw new OriginError(`The origin redirected more than ${MAX_REDIRECTS} times`);
  }

  /** Maps statuses that are failures whatever was asked. */
  #failOnStatus(response: Dispatcher.ResponseData): void {
    const status = response.statusCode;
    if (status === 404 || status === 410) {
      discard(response);
      throw new NotFoundError(ORIGIN_MESSAGES.notFound);
    }
    if (status === 416 || (status >= 200 && status < 300)) return;
    discard(response);
    if (status === 401 || status === 403) throw new OriginError(`The origin refused access (${status})`);
    throw new OriginError(`The origin answered ${status}`);
  }

  /** Size from `Content-Range` of a `bytes=0-0` GET, falling back to `Content-Length` or HEAD. */
  async stat(source: string, signal?: AbortSignal): Promise<SourceStat> {
    const url = this.#url(source);
    const response = await this.#send(url, 'GET', 'bytes=0-0', signal);
    this.#failOnStatus(response);
    discard(response);
    let size: number | undefined;
    const range = parseContentRange(header(response, 'content-range'));
    if (response.statusCode === 206 || response.statusCode === 416) size = range?.total;
    else size = contentLength(response);
    let described = response;
    if (size === undefined) {
      described = await this.#send(url, 'HEAD', undefined, signal);
      this.#failOnStatus(described);
      discard(described);
      if (described.statusCode !== 200) throw new OriginError(`The origin answered ${described.statusCode}`);
      size = contentLength(described);
    }
    if (size === undefined) throw new OriginError('The origin did not report the size of the source');
    const etag = header(described, 'etag');
    const lastModifiedHeader = header(described, 'last-modified');
    const lastModified = lastModifiedHeader ? new Date(lastModifiedHeader) : undefined;
    const validDate = lastModified && !Number.isNaN(lastModified.getTime()) ? lastModified : undefined;
    return {
      size,
      version: etag ?? (validDate ? `${validDate.getTime()}-${size}` : `size-${size}`),
      lastModified: validDate,
      contentType: chooseContentType(header(described, 'content-type'), source),
    };
  }

  /**
   * GET with `Range` (end clamped to the source like HTTP does). A `200` to a ranged request is
   * skipped to the start and cut at the end while streaming. A start past the end is
   * `RangeNotSatisfiableError`; bodies shorter than announced error the stream.
   */
  async read(source: string, range?: ByteRange, signal?: AbortSignal): Promise<Readable> {
    const url = this.#url(source);
    const response = await this.#send(
      url,
      'GET',
      range ? `bytes=${range.start}-${range.end}` : undefined,
      signal,
    );
    this.#failOnStatus(response);
    const mapError = (error: unknown) => translate(error, signal) as Error;
    const status = response.statusCode;
    const total = contentLength(response);
    if (status === 416) {
      discard(response);
      const size = parseContentRange(header(response, 'content-range'))?.total;
      if (size === undefined) throw new OriginError('The origin refused the byte range');
      throw new RangeNotSatisfiableError(size);
    }
    if (status === 206) {
      const got = parseContentRange(header(response, 'content-range'));
      const wantStart = range?.start ?? 0;
      if (got?.start !== wantStart || got.end === undefined) {
        discard(response);
        throw new OriginError('The origin answered a different byte range than asked');
      }
      const askedEnd = Math.min(
        range?.end ?? Number.POSITIVE_INFINITY,
        (got.total ?? Number.POSITIVE_INFINITY) - 1,
      );
      if (Number.isFinite(askedEnd) && got.end < askedEnd) {
        // Servers may legally send less than asked; the contract promises the whole range.
        discard(response);
        throw new OriginError('The origin answered a shorter byte range than asked');
      }
      const end = range ? Math.min(got.end, range.end) : got.end;
      return windowStream(response.body, { length: end - wantStart + 1, mapError });
    }
    if (status !== 200) {
      discard(response);
      throw new OriginError(`The origin answered ${status}`);
    }
    if (!range) return windowStream(response.body, { length: total, mapError });
    if (total !== undefined && range.start >= total) {
      discard(response);
      throw new RangeNotSatisfiableError(total);
    }
    const end = total === undefined ? range.end : Math.min(range.end, total - 1);
    // Without a Content-Length a short body may simply be the end of the file.
    return windowStream(response.body, {
      skip: range.start,
      length: end - range.start + 1,
      exact: total !== undefined,
      mapError,
    });
  }

  /** Any HTTP answer below 500 from the base URL counts as reachable (it may well be a 403). */
  async ping(signal?: AbortSignal): Promise<void> {
    const response = await this.#send(this.#base, 'GET', 'bytes=0-0', signal, false);
    discard(response);
    if (response.statusCode >= 500) throw new OriginError(`The origin answered ${response.statusCode}`);
  }

  /** Closes the agent's connections. */
  async destroy(): Promise<void> {
    await this.#agent.destroy();
  }
}
