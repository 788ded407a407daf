/**
 * Pure parsing of the upload form's text fields (ImageKit's Upload API v1 names) into an
 * `UploadRequest`. No I/O: the route streams the `file` part elsewhere and hands the rest here.
 * Every refusal is an `InvalidFieldError` naming the field; nothing is silently dropped.
 */
import { InvalidFieldError } from './errors.js';
import { safeFileName, safeFolder } from './names.js';

/** A post-upload transformation (ImageKit's `transformation.post` entries). */
export type PostTransformation =
  | { type: 'thumbnail'; value: string }
  | { type: 'transformation'; value: string }
  | { type: 'abs'; protocol: 'hls' | 'dash'; value: string };

/** Scalar values custom metadata may hold. */
export type MetadataValue = string | number | boolean | Array<string | number | boolean>;

/** Where the bytes come from when `file` is a text field. */
export type FileText = { kind: 'url'; url: URL } | { kind: 'base64'; bytes: Buffer };

/** The client-side credentials ImageKit's browser SDK sends. */
export interface TokenFields {
  publicKey: string;
  token: string;
  expire: string;
  signature: string;
}

/** Everything an upload asks for, validated. */
export interface UploadRequest {
  fileName: string;
  /** `''` for the root, else `a/b` (no leading or trailing `/`). */
  folder: string;
  useUniqueFileName: boolean;
  tags: string[] | null;
  customMetadata: Record<string, MetadataValue>;
  description: string | undefined;
  isPrivateFile: boolean;
  overwriteFile: boolean;
  responseFields: string[];
  webhookUrl: URL | undefined;
  pre: string | undefined;
  post: PostTransformation[];
  /** Set when `file` came as a text field (URL or base64). */
  fileText: FileText | undefined;
}

/** Fields ImageKit defines that this API does not implement: a 400 naming them. */
const UNSUPPORTED = new Map<string, string>([
  ['extensions', 'AI extensions are not supported by this server'],
  ['customCoordinates', 'custom coordinates are not supported by this server'],
  ['checks', 'upload checks are not supported by this server'],
  ['embeddedMetadata', 'embedded metadata is not supported by this server'],
]);

/** Fields whose ImageKit default is the only behaviour here: accepted only with that value. */
const DEFAULT_ONLY = new Map<string, string>([
  ['isPublished', 'true'],
  ['overwriteAITags', 'true'],
  ['overwriteTags', 'true'],
  ['overwriteCustomMetadata', 'true'],
]);

const KNOWN = new Set([
  'file',
  'fileName',
  'folder',
  'useUniqueFileName',
  'tags',
  'customMetadata',
  'description',
  'isPrivateFile',
  'overwriteFile',
  'responseFields',
  'webhookUrl',
  'transformation',
  'publicKey',
  'token',
  'expire',
  'signature',
]);

/** `responseFields` values ImageKit defines that this server answers. */
const RESPONSE_FIELDS = new Set(['tags', 'customMetadata', 'isPrivateFile', 'metadata', 'description']);

/** Most bytes a base64 `file` may decode to: larger files go as a binary part. */
export const MAX_BASE64_BYTES = 12 * 1024 * 1024;
const MAX_TAGS = 100;
const MAX_TAG_LENGTH = 100;
const MAX_DESCRIPTION = 4096;
const MAX_METADATA_JSON = 16 * 1024;
const MAX_POST = 10;
const MAX_TR_LENGTH = 1024;

/** `true`/`false` as the SDKs send booleans (`String(value)`). */
export function parseBoolean(field: string, raw: string | undefined, fallback: boolean): boolean {
  if (raw === undefined) return fallback;
  const value = raw.trim().toLowerCase();
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw new InvalidFieldError(field, `Expected true or false but received '${raw.slice(0, 40)}'`);
}

/** A comma list of tags (or `null` as ImageKit's SDKs may send to clear them). */
export function parseTags(raw: string | undefined, field = 'tags'): string[] | null {
  if (raw === undefined || raw.trim() === '' || raw === 'null') return null;
  const tags = raw
    .split(',')
    .map((tag) => tag.trim())
    .filter(Boolean);
  if (tags.length > MAX_TAGS) throw new InvalidFieldError(field, `At most ${MAX_TAGS} tags are allowed`);
  for (const tag of tags) {
    if (tag.length > MAX_TAG_LENGTH || /[\u0000-\u001f\u007f]/.test(tag)) {
      throw new InvalidFieldError(field, `Each tag must be at most ${MAX_TAG_LENGTH} printable characters`);
    }
  }
  return [...new Set(tags)];
}

/** Custom metadata: a JSON object of scalars (or arrays of scalars), at most 16 KiB. */
export function parseCustomMetadata(raw: unknown, field = 'customMetadata'): Record<string, MetadataValue> {
  let value = raw;
  if (typeof raw === 'string') {
    if (raw.length > MAX_METADATA_JSON) throw new InvalidFieldError(field, 'Custom metadata is over 16 KiB');
    try {
      value = JSON.parse(raw);
    } catch {
      throw new InvalidFieldError(field, 'Expected a JSON object');
    }
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidFieldError(field, 'Expected a JSON object');
  }
  const out: Record<string, MetadataValue> = {};
  const scalar = (v: unknown) =>
    typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
  for (const [key, entry] of Object.entries(value)) {
    if (!/^[A-Za-z0-9_-]{1,100}$/.test(key)) {
      throw new InvalidFieldError(
        field,
        `Key '${key.slice(0, 40)}' must be 1-100 letters, digits, '_' or '-'`,
      );
    }
    if (!(scalar(entry) || (Array.isArray(entry) && entry.length <= 100 && entry.every(scalar)))) {
      throw new InvalidFieldError(
        field,
        `Value of '${key}' must be a string, number, boolean or a list of them`,
      );
    }
    out[key] = entry as MetadataValue;
  }
  if (JSON.stringify(out).length > MAX_METADATA_JSON) {
    throw new InvalidFieldError(field, 'Custom metadata is over 16 KiB');
  }
  return out;
}

/** A description: at most 4096 characters, no control characters besides newlines and tabs. */
export function parseDescription(raw: string | undefined, field = 'description'): string | undefined {
  if (raw === undefined) return undefined;
  if (raw.length > MAX_DESCRIPTION || /[\u0000-\u0008\u000b\u000c\u000e-\u001f]/.test(raw)) {
    throw new InvalidFieldError(field, `Expected at most ${MAX_DESCRIPTION} printable characters`);
  }
  return raw;
}

function parseHttpUrl(field: string, raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new InvalidFieldError(field, 'Expected an http(s) URL');
  }
  if (!/^https?:$/.test(url.protocol) || url.username || url.password) {
    throw new InvalidFieldError(field, 'Expected an http(s) URL without credentials');
  }
  return url;
}

/** A `tr` value for a post transformation: plain characters, bounded (the URL parser checks it later). */
function trValue(field: string, raw: unknown, required: boolean): string {
  if (raw === undefined && !required) return '';
  if (typeof raw !== 'string' || (required && raw.trim() === '') || raw.length > MAX_TR_LENGTH) {
    throw new InvalidFieldError(
      field,
      `Expected a transformation string of at most ${MAX_TR_LENGTH} characters`,
    );
  }
  if (!/^[A-Za-z0-9_.,:\-@]*$/.test(raw)) {
    throw new InvalidFieldError(field, 'A transformation may only use letters, digits and _ . , : - @');
  }
  return raw;
}

/** `transformation`: `{"pre": "<tr>", "post": [{"type": ..., "value": ..., "protocol": ...}]}`. */
export function parseTransformation(raw: string | undefined): { pre?: string; post: PostTransformation[] } {
  if (raw === undefined || raw.trim() === '') return { post: [] };
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new InvalidFieldError('transformation', 'Expected a JSON object with pre and/or post');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidFieldError('transformation', 'Expected a JSON object with pre and/or post');
  }
  const { pre, post, ...rest } = value as Record<string, unknown>;
  const extra = Object.keys(rest)[0];
  if (extra) throw new InvalidFieldError(`transformation.${extra}`, 'Unknown key; expected pre and/or post');
  const out: { pre?: string; post: PostTransformation[] } = { post: [] };
  if (pre !== undefined) out.pre = trValue('transformation.pre', pre, true);
  if (post !== undefined) {
    if (!Array.isArray(post) || post.length > MAX_POST) {
      throw new InvalidFieldError('transformation.post', `Expected a list of at most ${MAX_POST} entries`);
    }
    post.forEach((entry: unknown, index) => {
      const at = `transformation.post[${index}]`;
      if (entry === null || typeof entry !== 'object') throw new InvalidFieldError(at, 'Expected an object');
      const { type, value: tr, protocol } = entry as Record<string, unknown>;
      if (type === 'thumbnail') out.post.push({ type, value: trValue(`${at}.value`, tr, false) });
      else if (type === 'transformation') out.post.push({ type, value: trValue(`${at}.value`, tr, true) });
      else if (type === 'abs') {
        if (protocol !== 'hls' && protocol !== 'dash') {
          throw new InvalidFieldError(`${at}.protocol`, "Expected 'hls' or 'dash'");
        }
        out.post.push({ type, protocol, value: trValue(`${at}.value`, tr, true) });
      } else throw new InvalidFieldError(`${at}.type`, "Expected 'thumbnail', 'transformation' or 'abs'");
    });
  }
  return out;
}

/** `file` as text: an http(s) URL, or base64 (optionally a `data:` URI), bounded. */
export function parseFileText(raw: string): FileText {
  const text = raw.trim();
  if (/^https?:\/\//i.test(text)) return { kind: 'url', url: parseHttpUrl('file', text) };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    throw new InvalidFieldError('file', 'A file URL must be http or https');
  }
  const body = text.replace(/^data:[^,;]*(;[^,;]*)*;base64,/i, '').replace(/\s+/g, '');
  if (body === '' || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(body) || body.length % 4 === 1) {
    throw new InvalidFieldError('file', 'Expected binary data, a base64 string or an http(s) URL');
  }
  if (Math.floor((body.length * 3) / 4) > MAX_BASE64_BYTES) {
    throw new InvalidFieldError(
      'file',
      `A base64 file may be at most ${MAX_BASE64_BYTES} bytes; send larger files as binary`,
    );
  }
  return { kind: 'base64', bytes: Buffer.from(body, 'base64') };
}

/**
 * Validates the upload form's text fields (`file` as text included, a binary `file` part
 * excluded). `fields` holds each field once: the route refuses repeats.
 */
export function parseUploadFields(
  fields: ReadonlyMap<string, string>,
  hasBinaryFile: boolean,
): UploadRequest {
  for (const name of fields.keys()) {
    const unsupported = UNSUPPORTED.get(name);
    if (unsupported) throw new InvalidFieldError(name, unsupported);
    const only = DEFAULT_ONLY.get(name);
    if (only !== undefined) {
      if (fields.get(name)!.trim().toLowerCase() !== only) {
        throw new InvalidFieldError(name, `Only ${name}=${only} is supported by this server`);
      }
      continue;
    }
    if (!KNOWN.has(name)) throw new InvalidFieldError(name, 'Unknown upload field');
  }
  const fileText = fields.get('file');
  if (hasBinaryFile && fileText !== undefined) throw new InvalidFieldError('file', 'Send the file once');
  if (!hasBinaryFile && fileText === undefined) throw new InvalidFieldError('file', 'Missing file');
  const rawName = fields.get('fileName');
  if (rawName === undefined || rawName === '') throw new InvalidFieldError('fileName', 'Missing fileName');
  const fileName = safeFileName(rawName);
  const folder = safeFolder(fields.get('folder') ?? '/');
  const responseFields = (fields.get('responseFields') ?? '')
    .split(',')
    .map((value) => value.trim())
    .filter(Boolean);
  for (const value of responseFields) {
    if (!RESPONSE_FIELDS.has(value)) {
      throw new InvalidFieldError('responseFields', `Unsupported value '${value.slice(0, 40)}'`);
    }
  }
  const webhook = fields.get('webhookUrl');
  const transformation = parseTransformation(fields.get('transformation'));
  // The token itself is checked before this (see the upload use case); here only its completeness.
  const auth = ['publicKey', 'token', 'expire', 'signature'];
  if (auth.some((name) => fields.has(name))) {
    const missing = auth.find((name) => !fields.get(name));
    if (missing)
      throw new InvalidFieldError(missing, 'Client-side uploads need publicKey, token, expire and signature');
  }
  return {
    fileName,
    folder,
    useUniqueFileName: parseBoolean('useUniqueFileName', fields.get('useUniqueFileName'), true),
    tags: parseTags(fields.get('tags')),
    customMetadata:
      fields.get('customMetadata') === undefined ? {} : parseCustomMetadata(fields.get('customMetadata')),
    description: parseDescription(fields.get('description')),
    isPrivateFile: parseBoolean('isPrivateFile', fields.get('isPrivateFile'), false),
    overwriteFile: parseBoolean('overwriteFile', fields.get('overwriteFile'), true),
    responseFields,
    webhookUrl: webhook ? parseHttpUrl('webhookUrl', webhook) : undefined,
    pre: transformation.pre,
    post: transformation.post,
    fileText: fileText === undefined ? undefined : parseFileText(fileText),
  };
}
