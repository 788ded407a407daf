import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'vitest';

/** HTTP-level helpers of the integration tests: whole answers, error documents, headers, magic bytes. */

/** A fully read HTTP answer. */
export interface FetchedResponse {
  status: number;
  headers: Headers;
  body: Buffer;
}

/** Fetches `url` and reads the whole body (an empty buffer for HEAD, 304 and friends). */
export async function fetchBytes(url: string, init: RequestInit = {}): Promise<FetchedResponse> {
  const response = await fetch(url, init);
  const body = Buffer.from(await response.arrayBuffer());
  return { status: response.status, headers: response.headers, body };
}

/** Headers that legitimately differ between two answers of the same resource. */
const PER_RESPONSE_HEADERS = new Set([
  'date',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'x-request-id',
  'server-timing',
]);

/** The headers of an answer that must be identical between GET and HEAD of the same resource. */
export function comparableHeaders(headers: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  headers.forEach((value, name) => {
    if (!PER_RESPONSE_HEADERS.has(name)) out[name] = value;
  });
  return out;
}

/** Asserts the design §2 error document: status, JSON `{error:{code,message}}`, `Cache-Control: no-store`. */
export function expectJsonError(
  response: FetchedResponse,
  status: number,
): { code: string; message: string } {
  expect(response.status, response.body.toString('utf8')).toBe(status);
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  expect(response.headers.get('cache-control')).toBe('no-store');
  const document = JSON.parse(response.body.toString('utf8')) as {
    error: { code: unknown; message: unknown };
  };
  expect(typeof document.error.code).toBe('string');
  expect(typeof document.error.message).toBe('string');
  expect(document.error.message).not.toBe('');
  return document.error as { code: string; message: string };
}

/** The still-image format a body really is, from its magic bytes (never from headers). */
export function imageFormatOf(body: Buffer): 'jpg' | 'png' | 'webp' | 'avif' | 'unknown' {
  if (body.length >= 3 && body[0] === 0xff && body[1] === 0xd8 && body[2] === 0xff) return 'jpg';
  if (body.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'png';
  if (body.toString('latin1', 0, 4) === 'RIFF' && body.toString('latin1', 8, 12) === 'WEBP') return 'webp';
  if (body.toString('latin1', 4, 8) === 'ftyp' && /avi[fs]/.test(body.toString('latin1', 8, 32)))
    return 'avif';
  return 'unknown';
}

/** Files under a folder, recursively (for checking what a cache directory holds). */
export async function listFilesRecursively(directory: string): Promise<string[]> {
  const entries = await readdir(directory, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => path.join(entry.parentPath, entry.name));
}
