import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';

/**
 * Helpers of the video-output tests: a scratch folder and downloads into it. Probing, decoding
 * and pixels are in test/support (ffprobe.ts, pixels.ts).
 */

/** A folder for downloaded outputs, removed by `dispose`. */
export async function makeWorkDir(): Promise<{ dir: string; dispose(): Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ikvp-video-test-'));
  return { dir, dispose: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * Registers `beforeAll`/`afterAll` hooks that make a {@link makeWorkDir} folder and remove it;
 * returns a view whose `dir` is readable inside the tests.
 */
export function useWorkDir(): { readonly dir: string } {
  let work: Awaited<ReturnType<typeof makeWorkDir>> | undefined;
  beforeAll(async () => {
    work = await makeWorkDir();
  });
  afterAll(async () => {
    await work?.dispose();
    work = undefined;
  });
  return {
    get dir() {
      if (!work) throw new Error('useWorkDir(): the folder exists only between its beforeAll and afterAll');
      return work.dir;
    },
  };
}

let fileCounter = 0;

/** GETs `url`, saves the body under `dir`, and returns the response with the file path. */
export async function download(
  url: string,
  dir: string,
  init: RequestInit = {},
): Promise<{ response: Response; body: Buffer; file: string }> {
  const response = await fetch(url, init);
  const body = Buffer.from(await response.arrayBuffer());
  fileCounter += 1;
  const file = path.join(dir, `out-${process.pid}-${fileCounter}`);
  await writeFile(file, body);
  return { response, body, file };
}

/** Runs `tasks` with at most `limit` in flight (ffmpeg-heavy tests share 2 cores). */
export async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index] as T);
    }
  });
  await Promise.all(workers);
  return results;
}
