/**
 * Child process for the crash test: puts large entries into a DiskStore in a loop, printing
 * `committed <key>` after each put resolves, until killed. Usage: crash-writer.ts <dir> <round> <sourceDir>
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DiskStore } from '../../src/cache/disk.js';
import { bodyFor, metaFor } from './bodies.js';
import { CRASH_KEYS_PER_ROUND, crashKey, crashSize } from './crash-keys.js';

const [dir, roundText, sourceDir] = process.argv.slice(2);
const round = Number(roundText);
const store = await DiskStore.open({ dir: dir!, maxBytes: 10 * 1024 ** 3 });
process.stdout.write('ready\n');

async function putOne(index: number): Promise<void> {
  // Every fifth put overwrites an earlier key of this round (same bytes) to exercise replacement.
  const key = crashKey(round, index % 5 === 4 ? index - 3 : index);
  const size = crashSize(key);
  const body = bodyFor(key, size);
  if (index % 2 === 0) {
    await store.put(key, metaFor(size, key), { buffer: body });
  } else {
    const file = path.join(sourceDir!, `source-${index}`);
    await writeFile(file, body);
    await store.put(key, metaFor(size, key), { file });
  }
  process.stdout.write(`committed ${key}\n`);
}

let next = 0;
async function worker(): Promise<void> {
  while (next < CRASH_KEYS_PER_ROUND) await putOne(next++);
}
await Promise.all([worker(), worker()]);
