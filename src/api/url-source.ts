/**
 * Fetching a `file` given as an http(s) URL (and posting webhooks): every connection, redirects
 * included, goes through the HTTP origin's SSRF guard (`createGuardedAgent`), so a refused
 * address is never connected to. Bounded by a timeout and the upload size limit.
 */
import { createHmac } from 'node:crypto';
import type { Readable } from 'node:stream';
import { type Agent, type Dispatcher, request } from 'undici';
import { ProxyError } from '../errors.js';
import { createGuardedAgent } from '../origin/http.js';
import { InvalidFieldError, UploadTooLargeError } from './errors.js';
import { byteLimit } from './multipart.js';

const MAX_REDIRECTS = 3;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** True when `error` (or a cause of it) is the SSRF guard's refusal. */
export function isGuardRefusal(error: unknown): boolean {
  for (let current = error, depth = 0; current && depth < 6; depth++) {
    const message = (current as Error).message ?? '';
    if (/may not connect to/.test(message)) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/** Fetches URLs for uploads and posts webhooks, through one guarded agent. */
export class GuardedFetcher {
  readonly #agent: Agent;
  readonly #timeoutMs: number;

  constructor(options: { timeoutMs: number; allowPrivate: boolean }) {
    this.#agent = createGuardedAgent({ timeoutMs: options.timeoutMs, allowPrivate: options.allowPrivate });
    this.#timeoutMs = options.timeoutMs;
  }

  /**
   * The body of `url` (after at most 3 redirects, each to http(s)), limited to `maxBytes`.
   * Failures are 400s naming `file`: a refused address, an unreachable or failing server.
   */
  async open(url: URL, maxBytes: number, signal: AbortSignal): Promise<Readable> {
    const deadline = AbortSignal.any([signal, AbortSignal.timeout(this.#timeoutMs)]);
    let current = url;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      let response: Dispatcher.ResponseData;
      try {
        response = await request(current, {
          method: 'GET',
          headers: { 'accept-encoding': 'identity', 'user-agent': 'ik-video-proxy' },
          dispatcher: this.#agent,
          signal: deadline,
        });
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        if (isGuardRefusal(error)) {
          throw new InvalidFieldError(
            'file',
            'The file URL resolves to an address the server may not connect to',
          );
        }
        if (error instanceof ProxyError) throw error;
        throw new InvalidFieldError(
          'file',
          'The file URL could not be fetched (no answer or connection failed)',
        );
      }
      if (REDIRECTS.has(response.statusCode)) {
        response.body.destroy();
        const location = response.headers.location;
        const next = typeof location === 'string' ? safeUrl(location, current) : undefined;
        if (!next) throw new InvalidFieldError('file', 'The file URL redirected somewhere invalid');
        current = next;
        continue;
      }
      if (response.statusCode !== 200) {
        response.body.destroy();
        throw new InvalidFieldError('file', `The file URL answered ${response.statusCode}`);
      }
      const declared = Number(response.headers['content-length']);
      if (Number.isFinite(declared) && declared > maxBytes) {
        response.body.destroy();
        throw new UploadTooLargeError(
          `The file at the URL is ${declared} bytes; the limit is ${maxBytes} (UPLOAD_MAX_BYTES)`,
        );
      }
      const limited = byteLimit(maxBytes, `The file at the URL is over ${maxBytes} bytes (UPLOAD_MAX_BYTES)`);
      response.body.on('error', (error) => limited.destroy(error));
      return response.body.pipe(limited);
    }
    throw new InvalidFieldError('file', `The file URL redirected more than ${MAX_REDIRECTS} times`);
  }

  /**
   * Posts a JSON event; failures are the caller's to log. With `secret` it is signed as ImageKit
   * signs webhooks: `x-ik-signature: t=<ms>,v1=<hex HMAC-SHA256(secret, "<ms>.<body>")>`, which
   * the `imagekit` SDK's `verifyWebhookEvent(body, signature, secret)` checks.
   */
  async post(url: URL, body: unknown, secret?: string): Promise<number> {
    const payload = JSON.stringify(body);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'ik-video-proxy',
    };
    if (secret) {
      const timestamp = Date.now();
      const v1 = createHmac('sha256', secret).update(`${timestamp}.${payload}`).digest('hex');
      headers['x-ik-signature'] = `t=${timestamp},v1=${v1}`;
    }
    const response = await request(url, {
      method: 'POST',
      headers,
      body: payload,
      dispatcher: this.#agent,
      signal: AbortSignal.timeout(this.#timeoutMs),
    });
    response.body.resume();
    return response.statusCode;
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }
}

function safeUrl(location: string, base: URL): URL | undefined {
  try {
    const next = new URL(location, base);
    return /^https?:$/.test(next.protocol) && !next.username && !next.password ? next : undefined;
  } catch {
    return undefined;
  }
}
