import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../errors.js';
import { type LiveConfig, loadLiveConfig } from '../live/config.js';
import type { AzureAuth } from '../origin/azure.js';
import type { NamedTransformations } from '../url/types.js';
import { type ApiConfig, loadApiConfig } from './api.js';

/** Where sources come from, decided by the form of `ORIGIN`. */
export type OriginConfig =
  | { kind: 'fs'; root: string }
  | { kind: 's3'; bucket: string; prefix: string }
  /** Google Cloud Storage through its S3-compatible XML API: the S3 adapter with `Config.gcs`. */
  | { kind: 'gs'; bucket: string; prefix: string }
  | { kind: 'azure'; container: string; prefix: string }
  | { kind: 'http'; baseUrl: string };

/** How the S3 adapter reaches an S3-compatible service. */
export interface S3Connection {
  endpoint?: string;
  forcePathStyle: boolean;
  region: string;
}

/** A bucket or container holding the shared result tier (`RESULT_BUCKET`). */
export interface ResultBucketConfig {
  kind: 's3' | 'gs' | 'azure';
  /** The bucket, or the Azure container. */
  bucket: string;
  /** `''` or ending in `/`. */
  prefix: string;
}

/** Google Cloud Storage's XML API endpoint, which accepts S3 requests signed with HMAC keys. */
export const GCS_ENDPOINT = 'https://storage.googleapis.com';

/** The whole, validated configuration. Built once at start-up by `loadConfig`. */
export interface Config {
  port: number;
  host: string;
  /** Public path prefix the proxy is mounted under (e.g. `/v`), stripped before parsing and signing. */
  basePath: string;
  origin: OriginConfig;
  /** Extra origin prefixes HTTP origins may be redirected to (besides `ORIGIN` itself). */
  originAllowlist: string[];
  /** Allow HTTP origins on loopback/private addresses (tests and trusted networks only). */
  allowPrivateOrigins: boolean;
  originTimeoutMs: number;
  /** How long a source's size and version are trusted before the origin is asked again. */
  sourceTtlMs: number;
  s3: S3Connection;
  /**
   * The S3 settings for `gs://` locations: `https://storage.googleapis.com`, path-style, region
   * `auto`, each overridden by `S3_ENDPOINT`, `S3_FORCE_PATH_STYLE` and `AWS_REGION` when set.
   */
  gcs: S3Connection;
  /** Credentials for `azure://` locations; set whenever `ORIGIN` or `RESULT_BUCKET` is one. */
  azure?: AzureAuth;
  cacheDir: string;
  cacheMaxBytes: number;
  memoryCacheMaxBytes: number;
  /** Largest single output the memory tier keeps. */
  memoryCacheMaxItemBytes: number;
  resultBucket?: ResultBucketConfig;
  /** Signing keys; the first signs, all verify (rotation). */
  signingKeys: string[];
  requireSignedUrls: boolean;
  maxSourceBytes: number;
  maxSourceDuration: number;
  maxSourcePixels: number;
  maxSourceStreams: number;
  maxOutputPixels: number;
  maxJobs: number;
  /** ffmpeg processes kept started and waiting for a still (`FFMPEG_STANDBY`). */
  ffmpegStandby: number;
  maxQueue: number;
  jobTimeoutMs: number;
  ffmpegPath: string;
  ffprobePath: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  cacheControl: string;
  namedTransformations: NamedTransformations;
  /** Segment length for HLS/DASH, seconds. */
  segmentSeconds: number;
  /** Serve the playground page at `/playground` (and redirect `/` there). */
  playground: boolean;
  /** The upload and media library API (`API_PRIVATE_KEY` and friends, see `config/api.ts`). */
  api: ApiConfig;
  /** Live ingest (`RTMP_PORT`, `LIVE_*`, see `live/config.ts`); undefined when `RTMP_PORT` is unset. */
  live?: LiveConfig;
}

const here = path.dirname(fileURLToPath(import.meta.url));
/** The bundled fixtures folder, the default origin. Resolved from src/config or dist/config. */
export const BUNDLED_FIXTURES = path.resolve(here, '..', '..', 'fixtures');

type Env = Record<string, string | undefined>;

/** One variable: its name, default (as the README documents it) and parser. */
interface Setting<T> {
  name: string;
  fallback: string | undefined;
  parse: (raw: string) => T;
  /** A credential: a bad value is reported by name only, never echoed into logs. */
  secret?: boolean;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

function integer(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (raw: string): number => {
    if (!/^\d+$/.test(raw.trim())) throw new Error(`expected a whole number from ${min} to ${max}`);
    const value = Number(raw.trim());
    if (value < min || value > max) throw new Error(`expected a whole number from ${min} to ${max}`);
    return value;
  };
}

const BYTE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1024 ** 4,
};

/** `500MB`, `2g`, `1048576` -> bytes. */
function bytes(raw: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(raw);
  const unit = match ? BYTE_UNITS[match[2]!.toLowerCase()] : undefined;
  if (!match || unit === undefined) throw new Error('expected a size such as 1048576, 500MB or 2GB');
  return Math.floor(Number(match[1]) * unit);
}

/** `30`, `30s`, `2m`, `1h` -> seconds. */
function seconds(raw: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(s|m|h)?\s*$/i.exec(raw);
  if (!match) throw new Error('expected a duration in seconds such as 30, 90s, 5m or 1h');
  const factor = { s: 1, m: 60, h: 3600 }[(match[2] ?? 's').toLowerCase() as 's' | 'm' | 'h'];
  const value = Number(match[1]) * factor;
  if (value <= 0) throw new Error('expected a duration greater than 0');
  return value;
}

function boolean(raw: string): boolean {
  const value = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(value)) return true;
  if (['0', 'false', 'no', 'off', ''].includes(value)) return false;
  throw new Error('expected true or false');
}

function text(raw: string): string {
  return raw;
}

/** `s3://b/p`, `gs://b/p`, `azure://c/p` -> kind, bucket (or container) and a `/`-ended prefix. */
function parseStorageUrl(value: string): ResultBucketConfig | undefined {
  const match = /^(s3|gs|azure):\/\/(.*)$/i.exec(value);
  if (!match) return undefined;
  const kind = match[1]!.toLowerCase() as ResultBucketConfig['kind'];
  const [bucket, ...prefixParts] = match[2]!.split('/');
  const noun = kind === 'azure' ? 'container' : 'bucket';
  if (!bucket) throw new Error(`expected ${kind}://${noun} or ${kind}://${noun}/prefix`);
  // Azure container names: 3-63 of [a-z0-9-]; S3 and GCS bucket names: 3-63 of [a-z0-9.-_].
  const valid =
    kind === 'azure' ? /^[a-z0-9](?:[a-z0-9-]{1,61})[a-z0-9]$/ : /^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$/;
  if (!valid.test(bucket)) throw new Error(`'${bucket}' is not a valid ${kind} ${noun} name`);
  const prefix = prefixParts.filter(Boolean).join('/');
  return { kind, bucket, prefix: prefix ? `${prefix}/` : '' };
}

function parseOrigin(raw: string): OriginConfig {
  const value = raw.trim();
  const storage = parseStorageUrl(value);
  if (storage?.kind === 'azure') return { kind: 'azure', container: storage.bucket, prefix: storage.prefix };
  if (storage) return { kind: storage.kind, bucket: storage.bucket, prefix: storage.prefix };
  if (/^https?:\/\//i.test(value)) {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new Error('expected a valid http(s) URL');
    }
    if (url.username || url.password) throw new Error('credentials in the URL are not allowed');
    if (url.search || url.hash) throw new Error('expected a base URL without query or fragment');
    const base = url.toString();
    return { kind: 'http', baseUrl: base.endsWith('/') ? base : `${base}/` };
  }
  if (value.includes('://'))
    throw new Error(
      'expected s3://, gs:// or azure:// with a bucket and prefix, https://host/base or a folder path',
    );
  return { kind: 'fs', root: path.resolve(value) };
}

function parseBasePath(raw: string): string {
  const value = raw.trim().replace(/\/+$/, '');
  if (value === '') return '';
  if (!/^\/[A-Za-z0-9._~\-/]*$/.test(value) || value.includes('//'))
    throw new Error('expected a path prefix such as /v');
  return value;
}

function parseNamed(raw: string): NamedTransformations {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new Error('expected a JSON object such as {"thumb":"w-300,h-200"}');
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new Error('expected a JSON object');
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(parsed)) {
    if (!/^[A-Za-z0-9_.]+$/.test(name))
      throw new Error(`name '${name}' must use letters, digits, '_' or '.'`);
    if (typeof value !== 'string' || value === '') throw new Error(`'${name}' must map to a tr string`);
    out[name] = value;
  }
  return out;
}

function parseKeys(raw: string): string[] {
  return raw
    .split(',')
    .map((key) => key.trim())
    .filter(Boolean);
}

function parseAllowlist(raw: string): string[] {
  return parseKeys(raw).map((prefix) => {
    const url = new URL(prefix);
    if (!/^https?:$/.test(url.protocol)) throw new Error(`'${prefix}' is not an http(s) URL`);
    const s = url.toString();
    return s.endsWith('/') ? s : `${s}/`;
  });
}

function oneOf<T extends string>(values: readonly T[]) {
  return (raw: string): T => {
    const value = raw.trim().toLowerCase() as T;
    if (!values.includes(value)) throw new Error(`expected one of ${values.join(', ')}`);
    return value;
  };
}

/**
 * Every environment variable the proxy reads, with its default. The README's table is generated
 * from the same names; keep them in step.
 */
export const SETTINGS = {
  port: { name: 'PORT', fallback: '8080', parse: integer(0, 65535) },
  host: { name: 'HOST', fallback: '0.0.0.0', parse: text },
  basePath: { name: 'BASE_PATH', fallback: '', parse: parseBasePath },
  origin: { name: 'ORIGIN', fallback: BUNDLED_FIXTURES, parse: parseOrigin },
  originAllowlist: { name: 'ORIGIN_ALLOWLIST', fallback: '', parse: parseAllowlist },
  allowPrivateOrigins: { name: 'ALLOW_PRIVATE_ORIGINS', fallback: 'false', parse: boolean },
  originTimeout: { name: 'ORIGIN_TIMEOUT', fallback: '15', parse: seconds },
  sourceTtl: { name: 'SOURCE_TTL', fallback: '10', parse: seconds },
  s3Endpoint: { name: 'S3_ENDPOINT', fallback: undefined, parse: text },
  s3ForcePathStyle: { name: 'S3_FORCE_PATH_STYLE', fallback: 'false', parse: boolean },
  awsRegion: { name: 'AWS_REGION', fallback: 'us-east-1', parse: text },
  cacheDir: {
    name: 'CACHE_DIR',
    fallback: path.resolve('.cache'),
    parse: (raw: string) => path.resolve(raw),
  },
  cacheMaxBytes: { name: 'CACHE_MAX_BYTES', fallback: '10GB', parse: bytes },
  memoryCacheMaxBytes: { name: 'MEMORY_CACHE_MAX_BYTES', fallback: '256MB', parse: bytes },
  memoryCacheMaxItemBytes: { name: 'MEMORY_CACHE_MAX_ITEM_BYTES', fallback: '8MB', parse: bytes },
  resultBucket: { name: 'RESULT_BUCKET', fallback: undefined, parse: text },
  azureConnectionString: {
    name: 'AZURE_STORAGE_CONNECTION_STRING',
    fallback: undefined,
    parse: text,
    secret: true,
  },
  azureAccount: { name: 'AZURE_STORAGE_ACCOUNT', fallback: undefined, parse: parseAzureAccount },
  azureKey: { name: 'AZURE_STORAGE_KEY', fallback: undefined, parse: parseAzureKey, secret: true },
  azureSas: { name: 'AZURE_STORAGE_SAS', fallback: undefined, parse: parseAzureSas, secret: true },
  signingKey: { name: 'SIGNING_KEY', fallback: '', parse: parseKeys },
  requireSignedUrls: { name: 'REQUIRE_SIGNED_URLS', fallback: 'false', parse: boolean },
  maxSourceBytes: { name: 'MAX_SOURCE_BYTES', fallback: '2GB', parse: bytes },
  maxSourceDuration: { name: 'MAX_SOURCE_DURATION', fallback: '3h', parse: seconds },
  maxSourcePixels: { name: 'MAX_SOURCE_PIXELS', fallback: String(4096 * 2304), parse: integer(1) },
  maxSourceStreams: { name: 'MAX_SOURCE_STREAMS', fallback: '16', parse: integer(1) },
  maxOutputPixels: { name: 'MAX_OUTPUT_PIXELS', fallback: String(3840 * 2160), parse: integer(1) },
  maxJobs: { name: 'MAX_JOBS', fallback: '2', parse: integer(1, 256) },
  ffmpegStandby: { name: 'FFMPEG_STANDBY', fallback: '2', parse: integer(0, 8) },
  maxQueue: { name: 'MAX_QUEUE', fallback: '32', parse: integer(0, 100000) },
  jobTimeout: { name: 'JOB_TIMEOUT', fallback: '600', parse: seconds },
  ffmpegPath: { name: 'FFMPEG_PATH', fallback: 'ffmpeg', parse: text },
  ffprobePath: { name: 'FFPROBE_PATH', fallback: 'ffprobe', parse: text },
  logLevel: { name: 'LOG_LEVEL', fallback: 'info', parse: oneOf(LOG_LEVELS) },
  cacheControl: { name: 'CACHE_CONTROL', fallback: 'public, max-age=31536000, immutable', parse: text },
  namedTransformations: { name: 'NAMED_TRANSFORMATIONS', fallback: '{}', parse: parseNamed },
  segmentSeconds: { name: 'SEGMENT_SECONDS', fallback: '4', parse: integer(1, 30) },
  // Unset: on without SIGNING_KEY, off with one (its signing helper would sign any path).
  playground: { name: 'PLAYGROUND', fallback: undefined, parse: boolean },
} satisfies Record<string, Setting<unknown>>;

type Settings = typeof SETTINGS;
type Parsed = { [K in keyof Settings]: ReturnType<Settings[K]['parse']> | undefined };

/**
 * Reads and validates the configuration from `env`. Every bad variable is collected and reported
 * in one `ConfigError`, so a user fixes them all in one go.
 */
export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];
  const values = {} as Record<string, unknown>;
  for (const [key, setting] of Object.entries(SETTINGS) as Array<[string, Setting<unknown>]>) {
    const raw = env[setting.name] ?? setting.fallback;
    if (raw === undefined || raw === '') {
      values[key] = raw === '' && setting.fallback !== undefined ? setting.parse(raw) : undefined;
      continue;
    }
    try {
      values[key] = setting.parse(raw);
    } catch (error) {
      const shown = setting.secret ? '(hidden)' : JSON.stringify(raw);
      problems.push(`${setting.name}=${shown}: ${(error as Error).message}`);
    }
  }
  const v = values as Parsed;
  const resultBucket = v.resultBucket ? parseResultBucket(v.resultBucket, problems) : undefined;
  const usesAzure = v.origin?.kind === 'azure' || resultBucket?.kind === 'azure';
  const azure = azureAuth(v, usesAzure, problems);
  if (v.requireSignedUrls && v.signingKey && v.signingKey.length === 0) {
    problems.push('REQUIRE_SIGNED_URLS=true needs SIGNING_KEY to be set');
  }
  if (
    v.memoryCacheMaxItemBytes &&
    v.memoryCacheMaxBytes &&
    v.memoryCacheMaxItemBytes > v.memoryCacheMaxBytes
  ) {
    v.memoryCacheMaxItemBytes = v.memoryCacheMaxBytes;
  }
  const api = loadApiConfig(env, {
    maxSourceBytes: v.maxSourceBytes ?? Number.MAX_SAFE_INTEGER,
    bytes,
    seconds,
    integer,
  });
  problems.push(...api.problems);
  const live = loadLiveConfig(env, {
    seconds,
    integer,
    originKind: v.origin?.kind ?? 'fs',
    hasSigningKey: (v.signingKey ?? []).length > 0,
  });
  problems.push(...live.problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    port: v.port!,
    host: v.host!,
    basePath: v.basePath ?? '',
    origin: v.origin!,
    originAllowlist: v.originAllowlist ?? [],
    allowPrivateOrigins: v.allowPrivateOrigins ?? false,
    originTimeoutMs: v.originTimeout! * 1000,
    sourceTtlMs: v.sourceTtl! * 1000,
    s3: { endpoint: v.s3Endpoint, forcePathStyle: v.s3ForcePathStyle ?? false, region: v.awsRegion! },
    gcs: {
      endpoint: v.s3Endpoint ?? GCS_ENDPOINT,
      forcePathStyle: isSet(env, SETTINGS.s3ForcePathStyle.name) ? (v.s3ForcePathStyle ?? true) : true,
      region: isSet(env, SETTINGS.awsRegion.name) ? v.awsRegion! : 'auto',
    },
    azure,
    cacheDir: v.cacheDir!,
    cacheMaxBytes: v.cacheMaxBytes!,
    memoryCacheMaxBytes: v.memoryCacheMaxBytes!,
    memoryCacheMaxItemBytes: v.memoryCacheMaxItemBytes!,
    resultBucket,
    signingKeys: v.signingKey ?? [],
    requireSignedUrls: v.requireSignedUrls ?? false,
    maxSourceBytes: v.maxSourceBytes!,
    maxSourceDuration: v.maxSourceDuration!,
    maxSourcePixels: v.maxSourcePixels!,
    maxSourceStreams: v.maxSourceStreams!,
    maxOutputPixels: v.maxOutputPixels!,
    maxJobs: v.maxJobs!,
    ffmpegStandby: v.ffmpegStandby!,
    maxQueue: v.maxQueue!,
    jobTimeoutMs: v.jobTimeout! * 1000,
    ffmpegPath: v.ffmpegPath!,
    ffprobePath: v.ffprobePath!,
    logLevel: v.logLevel!,
    cacheControl: v.cacheControl!,
    namedTransformations: v.namedTransformations ?? {},
    segmentSeconds: v.segmentSeconds!,
    playground: v.playground ?? (v.signingKey ?? []).length === 0,
    api: api.config,
    live: live.config,
  };
}

function isSet(env: Env, name: string): boolean {
  return env[name] !== undefined && env[name] !== '';
}

/** `RESULT_BUCKET`: `s3://`, `gs://` or `azure://`; a bare `bucket/prefix` still means S3. */
function parseResultBucket(raw: string, problems: string[]): ResultBucketConfig | undefined {
  const value = raw.trim();
  try {
    const parsed = parseStorageUrl(value.includes('://') ? value : `s3://${value}`);
    if (parsed) return parsed;
  } catch (error) {
    problems.push(`RESULT_BUCKET=${JSON.stringify(raw)}: ${(error as Error).message}`);
    return undefined;
  }
  problems.push(
    `RESULT_BUCKET=${JSON.stringify(raw)}: expected s3://bucket/prefix, gs://bucket/prefix or azure://container/prefix`,
  );
  return undefined;
}

/** Azure storage account names: 3-24 lower-case letters and digits. */
function parseAzureAccount(raw: string): string {
  const value = raw.trim();
  if (!/^[a-z0-9]{3,24}$/.test(value)) throw new Error('expected 3-24 lower-case letters and digits');
  return value;
}

/** An account key is base64 (Azure's are 64 bytes); checked here so a paste error names the variable. */
function parseAzureKey(raw: string): string {
  const value = raw.trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(value) || value.length % 4 !== 0)
    throw new Error('expected the base64 account key from the portal (Access keys)');
  return value;
}

/** A SAS token: the query string Azure hands out (`sv=...&sig=...`), with or without `?`. */
function parseAzureSas(raw: string): string {
  const value = raw.trim().replace(/^\?/, '');
  const params = new URLSearchParams(value);
  if (!params.get('sig') || !params.get('sv'))
    throw new Error("expected a SAS token such as 'sv=...&sp=rl&sig=...' (the query string, not a URL)");
  return value;
}

/**
 * One way to sign in to Azure: a connection string, or an account with a key or a SAS token.
 * Naming two ways at once, or a key or SAS without its account, is a problem to report; so is
 * an `azure://` location without credentials.
 */
function azureAuth(
  v: {
    azureConnectionString?: string;
    azureAccount?: string;
    azureKey?: string;
    azureSas?: string;
  },
  needed: boolean,
  problems: string[],
): AzureAuth | undefined {
  const { azureConnectionString: connectionString, azureAccount: account, azureKey: key, azureSas: sas } = v;
  const ways = [connectionString, key, sas].filter((value) => value !== undefined && value !== '').length;
  if (ways > 1) {
    problems.push(
      'AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_KEY and AZURE_STORAGE_SAS: set only one of them',
    );
    return undefined;
  }
  if (connectionString) {
    if (!/(?:^|;)\s*(?:AccountName|BlobEndpoint|SharedAccessSignature)=/i.test(connectionString))
      problems.push(
        'AZURE_STORAGE_CONNECTION_STRING: expected a connection string such as DefaultEndpointsProtocol=https;AccountName=...;AccountKey=...',
      );
    else return { kind: 'connection-string', connectionString };
    return undefined;
  }
  if ((key || sas) && !account) {
    problems.push(`${key ? 'AZURE_STORAGE_KEY' : 'AZURE_STORAGE_SAS'} needs AZURE_STORAGE_ACCOUNT to be set`);
    return undefined;
  }
  if (account && key) return { kind: 'key', account, key };
  if (account && sas) return { kind: 'sas', account, sas };
  if (needed)
    problems.push(
      'azure:// in ORIGIN or RESULT_BUCKET needs AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY or AZURE_STORAGE_SAS',
    );
  return undefined;
}
