/**
 * Settings of the upload and media library API (design §3): parsed apart from the delivery
 * settings so each problem names its variable, and merged into `loadConfig`'s one report.
 */

/** The API's validated settings; `enabled` is false when no private key is configured. */
export interface ApiConfig {
  enabled: boolean;
  /** `API_PRIVATE_KEY`, comma-separated: every key is accepted (rotation). */
  privateKeys: string[];
  /** `API_PUBLIC_KEY`: what client-side uploads send as `publicKey`. */
  publicKey?: string;
  /** `PUBLIC_URL`: base of the URLs answers carry; the request's own origin when unset. */
  publicUrl?: string;
  /** `UPLOAD_MAX_BYTES`: an upload larger than this is refused while it streams (413). */
  uploadMaxBytes: number;
  /** `UPLOAD_CONCURRENCY`: uploads stored at once; more wait in the queue. */
  uploadConcurrency: number;
  /** `UPLOAD_QUEUE`: uploads allowed to wait; beyond, 503 with `Retry-After`. */
  uploadQueue: number;
  /** `UPLOAD_URL_TIMEOUT`: how long fetching a `file` URL may take, in ms. */
  urlTimeoutMs: number;
  /** `PURGE_WEBHOOK_URL`: posted `{type, requestId, url}` on every purge (a CDN purge hook). */
  purgeWebhookUrl?: string;
  /** `WEBHOOK_SECRET`: signs webhook posts (`x-ik-signature`); the first private key when unset. */
  webhookSecret?: string;
}

/** Names and defaults, as the README lists them. */
export const API_SETTINGS = {
  privateKey: { name: 'API_PRIVATE_KEY', fallback: '' },
  publicKey: { name: 'API_PUBLIC_KEY', fallback: '' },
  publicUrl: { name: 'PUBLIC_URL', fallback: '' },
  uploadMaxBytes: { name: 'UPLOAD_MAX_BYTES', fallback: 'MAX_SOURCE_BYTES' },
  uploadConcurrency: { name: 'UPLOAD_CONCURRENCY', fallback: '4' },
  uploadQueue: { name: 'UPLOAD_QUEUE', fallback: '16' },
  urlTimeout: { name: 'UPLOAD_URL_TIMEOUT', fallback: '60' },
  purgeWebhookUrl: { name: 'PURGE_WEBHOOK_URL', fallback: '' },
  webhookSecret: { name: 'WEBHOOK_SECRET', fallback: 'the first API_PRIVATE_KEY' },
} as const;

/** What the API settings are checked against. */
export interface ApiConfigContext {
  maxSourceBytes: number;
  /** Parses `500MB`, `2GB`... (the delivery settings' parser). */
  bytes(raw: string): number;
  /** Parses `30`, `90s`, `5m`... into seconds. */
  seconds(raw: string): number;
  /** A parser of whole numbers from `min` to `max` (the delivery settings' own). */
  integer(min: number, max: number): (raw: string) => number;
}

/**
 * Reads the API settings from `env`. Returns the config and every problem found (the caller
 * reports them together with the rest). Keys are never echoed in a problem.
 */
export function loadApiConfig(
  env: Record<string, string | undefined>,
  context: ApiConfigContext,
): { config: ApiConfig; problems: string[] } {
  const problems: string[] = [];
  const read = (setting: { name: string }): string => (env[setting.name] ?? '').trim();
  const privateKeys = read(API_SETTINGS.privateKey)
    .split(',')
    .map((key) => key.trim())
    .filter(Boolean);
  if (privateKeys.some((key) => key.includes(':') || key.length < 8 || /\s/.test(key))) {
    problems.push(
      'API_PRIVATE_KEY: each key must be at least 8 characters, without spaces or ":" (it is the Basic-auth user name)',
    );
  }
  const publicKey = read(API_SETTINGS.publicKey) || undefined;
  if (publicKey && privateKeys.length === 0) {
    problems.push(
      'API_PUBLIC_KEY is set but API_PRIVATE_KEY is not: client-side uploads need the private key',
    );
  }
  let publicUrl: string | undefined;
  const rawUrl = read(API_SETTINGS.publicUrl);
  if (rawUrl) {
    try {
      const url = new URL(rawUrl);
      if (!/^https?:$/.test(url.protocol) || url.search || url.hash || url.username) throw new Error('bad');
      publicUrl = url.toString().replace(/\/+$/, '');
    } catch {
      problems.push(
        `PUBLIC_URL=${JSON.stringify(rawUrl)}: expected an http(s) base URL such as https://cdn.example.com`,
      );
    }
  }
  const parse = <T>(setting: { name: string }, fallback: T, fn: (raw: string) => T): T => {
    const raw = read(setting);
    if (raw === '') return fallback;
    try {
      return fn(raw);
    } catch (error) {
      problems.push(`${setting.name}=${JSON.stringify(raw)}: ${(error as Error).message}`);
      return fallback;
    }
  };
  const uploadMaxBytes = parse(API_SETTINGS.uploadMaxBytes, context.maxSourceBytes, context.bytes);
  if (uploadMaxBytes > context.maxSourceBytes) {
    problems.push(
      `UPLOAD_MAX_BYTES (${uploadMaxBytes}) is above MAX_SOURCE_BYTES (${context.maxSourceBytes}): an upload that large could never be delivered`,
    );
  }
  if (uploadMaxBytes < 1) problems.push('UPLOAD_MAX_BYTES must be at least 1 byte');
  const uploadConcurrency = parse(API_SETTINGS.uploadConcurrency, 4, context.integer(1, 256));
  const uploadQueue = parse(API_SETTINGS.uploadQueue, 16, context.integer(0, 10_000));
  const urlTimeoutMs = parse(API_SETTINGS.urlTimeout, 60, context.seconds) * 1000;
  const purgeWebhookUrl = parse(API_SETTINGS.purgeWebhookUrl, undefined as string | undefined, (raw) => {
    const url = new URL(raw);
    if (!/^https?:$/.test(url.protocol)) throw new Error('expected an http(s) URL');
    return url.toString();
  });
  return {
    config: {
      enabled: privateKeys.length > 0,
      privateKeys,
      publicKey,
      publicUrl,
      uploadMaxBytes,
      uploadConcurrency,
      uploadQueue,
      urlTimeoutMs,
      purgeWebhookUrl,
      webhookSecret: read(API_SETTINGS.webhookSecret) || privateKeys[0],
    },
    problems,
  };
}
