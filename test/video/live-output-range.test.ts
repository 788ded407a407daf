import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { LiveOutput } from '../../src/render/live-output.js';

const folders: string[] = [];
afterEach(async () => {
  for (const folder of folders.splice(0)) await rm(folder, { recursive: true, force: true });
});

async function growingOutput(bytes: Buffer): Promise<LiveOutput> {
  const folder = await mkdtemp(join(tmpdir(), 'live-range-'));
  folders.push(folder);
  const live = await LiveOutput.create(join(folder, 'out.part'));
  await live.append(bytes);
  return live;
}

test('a range of a growing output streams exactly its bytes, in chunks, and then lets the output go', async () => {
  // 3 MiB of distinct bytes, still open (the encode goes on).
  const bytes = Buffer.alloc(3 * 1024 * 1024);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + (i >> 10)) & 0xff;
  const live = await growingOutput(bytes);
  let idle = 0;
  live.onIdle(() => idle++);

  const start = 1000;
  const end = 2_500_000;
  const chunks: Buffer[] = [];
  for await (const chunk of live.reader(start, end)) chunks.push(chunk as Buffer);

  expect(Buffer.concat(chunks).equals(bytes.subarray(start, end + 1))).toBe(true);
  // Read as the client takes it, never the whole range in one buffer.
  expect(Math.max(...chunks.map((chunk) => chunk.length))).toBeLessThanOrEqual(1024 * 1024);
  expect(chunks.length).toBeGreaterThan(1);
  // The range ended before the output did: the reader is gone and the output is idle.
  expect(live.readers).toBe(0);
  expect(idle).toBe(1);
  await live.fail(new Error('test over'));
});

test('a range reader that the client drops releases the output', async () => {
  const live = await growingOutput(Buffer.alloc(2 * 1024 * 1024, 1));
  const reader = live.reader(0, 2 * 1024 * 1024 - 1);
  expect(live.readers).toBe(1);
  reader.destroy();
  expect(live.readers).toBe(0);
  await live.fail(new Error('test over'));
});
