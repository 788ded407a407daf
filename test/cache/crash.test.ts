import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { DiskStore } from '../../src/cache/disk.js';
import { bodyFor, drain } from './bodies.js';
import { CRASH_KEYS_PER_ROUND, crashKey, crashSize } from './crash-keys.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const WRITER = path.join(here, 'crash-writer.ts');
const ROUNDS = 5;

let dir: string;
let sourceDir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'disk-crash-'));
  sourceDir = `${dir}-sources`;
  await mkdir(sourceDir);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await rm(sourceDir, { recursive: true, force: true });
});

/** Runs the writer for `round` and kills it with SIGKILL `afterMs` after it is ready; returns the keys it committed. */
function runAndKill(round: number, afterMs: number): Promise<Set<string>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', WRITER, dir, String(round), sourceDir], {
      cwd: path.resolve(here, '..', '..'),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const committed = new Set<string>();
    let output = '';
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const lines = output.split('\n');
      output = lines.pop()!;
      for (const line of lines) {
        if (line === 'ready' && !timer) timer = setTimeout(() => child.kill('SIGKILL'), afterMs);
        if (line.startsWith('committed ')) committed.add(line.slice('committed '.length));
      }
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (signal === 'SIGKILL' || code === 0) resolve(committed);
      else reject(new Error(`crash writer exited with ${code ?? signal}: ${stderr}`));
    });
  });
}

test('entries survive kill -9 mid-write whole or not at all, and no temp files remain', async () => {
  const committed = new Set<string>();
  for (let round = 0; round < ROUNDS; round++) {
    const afterMs = 300 + Math.floor(Math.random() * 1_200);
    for (const key of await runAndKill(round, afterMs)) committed.add(key);
  }
  expect(committed.size).toBeGreaterThan(0);

  const store = await DiskStore.open({ dir, maxBytes: 10 * 1024 ** 3 });
  expect(await readdir(path.join(dir, 'tmp'))).toEqual([]);

  let found = 0;
  for (let round = 0; round < ROUNDS; round++) {
    for (let index = 0; index < CRASH_KEYS_PER_ROUND; index++) {
      const key = crashKey(round, index);
      const hit = await store.get(key);
      if (committed.has(key)) expect(hit, `committed ${key} must survive`).toBeDefined();
      if (!hit) continue;
      found++;
      const size = crashSize(key);
      expect(hit.meta.size).toBe(size);
      expect(hit.meta.etag).toBe(`"${key}-${size}"`);
      expect((await drain(await hit.open())).equals(bodyFor(key, size))).toBe(true);
    }
  }
  // Nothing else is indexed, and every file on disk belongs to an entry (one meta + one body each).
  expect(store.stats().entries).toBe(found);
  const files = (await readdir(dir, { recursive: true, withFileTypes: true })).filter((entry) =>
    entry.isFile(),
  );
  expect(files).toHaveLength(found * 2);
}, 120_000);
