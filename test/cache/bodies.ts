import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { CacheMeta } from '../../src/cache/types.js';

/** Deterministic bytes derived from `key`, so any reader can check a body without remembering it. */
export function bodyFor(key: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  let block = createHash('sha256').update(key).digest();
  for (let offset = 0; offset < size; offset += block.length) {
    block.copy(out, offset, 0, Math.min(block.length, size - offset));
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

/** A plausible meta for a body of `size` bytes; `tag` makes two metas for the same size differ. */
export function metaFor(size: number, tag = 'a'): CacheMeta {
  return {
    contentType: 'video/mp4',
    size,
    etag: `"${tag}-${size}"`,
    lastModified: 1_700_000_000_000,
    headers: { vary: 'Accept', 'x-tag': tag },
  };
}

/** Everything a stream yields, as one buffer. */
export async function drain(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}
