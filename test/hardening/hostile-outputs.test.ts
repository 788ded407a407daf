import type { ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { REPO_ROOT } from '../support/fixtures.js';
import { ensureHostileCorpus, HOSTILE_CORPUS_DIR, type HostileCorpusEntry } from '../support/hostile.js';
import { startProxyProcess } from '../support/proxy-process.js';

/**
 * The hostile corpus (declared durations of 10 h, 10^6 segments and 2^32-1 s; declared frames of
 * 8000x8000 and 65535x65535; absurd box sizes and counts; a real 1-frame 8K clip) against every
 * output kind of a real server process with the default limits (design §5, "hostile source"):
 * each answer a 4xx within a second, the same status from every kind, nothing cached, `/healthz`
 * answering within 250 ms throughout, the event loop never blocked past 100 ms, and RSS back
 * within 100 MB of its idle figure 2 s later.
 */
const KINDS = [
  '?tr=w-100',
  '/ik-thumbnail.jpg?tr=w-100',
  '/ik-metadata.json',
  '/ik-master.m3u8?tr=sr-240_360',
  '/ik-master.mpd?tr=sr-240_360',
  '/ik-abs/240/index.m3u8?tr=sr-240_360',
  '/ik-abs/240/init.mp4?tr=sr-240_360',
  '/ik-abs/240/seg-0.m4s?tr=sr-240_360',
  '/ik-abs/240/seg-999999.m4s?tr=sr-240_360',
  '/ik-seek-thumbnail-track.vtt',
  '/ik-sprite-0.jpg',
];

const EXPECTED_STATUS: Record<Exclude<HostileCorpusEntry['verdict'], 'accepted'>, number> = {
  source_too_long: 422,
  source_too_many_pixels: 422,
  unreadable: 415,
};

let child: ChildProcess;
let base: string;
let cacheDir: string;
let corpus: HostileCorpusEntry[];

async function rssBytes(): Promise<number> {
  const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]) * 1024;
}

/** The longest event-loop stall since the last scrape (prom-client resets it on every scrape). */
async function eventLoopMaxSeconds(): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  return Number(/^ikvp_nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(text)?.[1]);
}

async function cachedEntries(): Promise<number> {
  const entries = await readdir(cacheDir, { recursive: true }).catch(() => [] as string[]);
  return entries.filter((name) => String(name).endsWith('.json')).length;
}

/** Polls `/healthz` every 25 ms while `work` runs; returns the slowest answer in milliseconds. */
async function slowestHealthzDuring(work: Promise<unknown>): Promise<number> {
  let slowest = 0;
  let done = false;
  void work.finally(() => {
    done = true;
  });
  while (!done) {
    const started = performance.now();
    const response = await fetch(`${base}/healthz`);
    await response.arrayBuffer();
    expect(response.status).toBe(200);
    slowest = Math.max(slowest, performance.now() - started);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  await work;
  return slowest;
}

beforeAll(async () => {
  corpus = await ensureHostileCorpus();
  cacheDir = await mkdtemp(path.join(os.tmpdir(), 'ikvp-hostile-cache-'));
  const server = await startProxyProcess({ ORIGIN: HOSTILE_CORPUS_DIR, CACHE_DIR: cacheDir });
  child = server.child;
  base = server.url;
}, 300_000);

afterAll(async () => {
  child?.kill('SIGKILL');
  await rm(cacheDir, { recursive: true, force: true });
});

describe('hostile sources against every output kind', () => {
  test('each refused file: the same 4xx from every kind within a second, nothing cached, the process unharmed', async () => {
    // Warm the process (first ffprobe, module loading), then take the idle figures.
    await (await fetch(`${base}/healthz`)).arrayBuffer();
    await new Promise((resolve) => setTimeout(resolve, 500));
    const idleRss = await rssBytes();
    await eventLoopMaxSeconds();

    const refused = corpus.filter((entry) => entry.verdict !== 'accepted');
    expect(refused.length).toBeGreaterThanOrEqual(8);
    const answers: string[] = [];
    const run = (async () => {
      for (const entry of refused) {
        const status = EXPECTED_STATUS[entry.verdict as keyof typeof EXPECTED_STATUS];
        for (const kind of KINDS) {
          const started = performance.now();
          const response = await fetch(`${base}/${entry.name}${kind}`);
          const body = (await response.json()) as { error?: { code: string } };
          const ms = performance.now() - started;
          answers.push(`${entry.name}${kind} ${response.status} ${body.error?.code} ${ms.toFixed(0)}ms`);
          expect(response.status, `${entry.name}${kind}: ${JSON.stringify(body)}`).toBe(status);
          expect(ms, `${entry.name}${kind}`).toBeLessThan(1000);
        }
      }
    })();
    const slowestHealthz = await slowestHealthzDuring(run);
    const stalled = await eventLoopMaxSeconds();
    expect(slowestHealthz, answers.join('\n')).toBeLessThan(250);
    expect(stalled * 1000).toBeLessThan(100);
    expect(await cachedEntries()).toBe(0);
    expect(child.exitCode).toBeNull();
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const afterRss = await rssBytes();
    expect(afterRss - idleRss, `idle ${idleRss} after ${afterRss}`).toBeLessThan(100 * 1024 * 1024);
    // The figures, for the docs: reproduce with `npx vitest run test/hardening/hostile-outputs.test.ts`.
    await mkdir(path.join(REPO_ROOT, 'test-artifacts'), { recursive: true });
    await writeFile(
      path.join(REPO_ROOT, 'test-artifacts', 'hostile-outputs.json'),
      JSON.stringify(
        {
          requests: answers.length,
          slowestAnswerMs: Math.max(...answers.map((line) => Number(/ (\d+)ms$/.exec(line)?.[1]))),
          slowestHealthzMs: Math.round(slowestHealthz),
          eventLoopMaxMs: Math.round(stalled * 1000),
          idleRssMB: Math.round(idleRss / 2 ** 20),
          afterRssMB: Math.round(afterRss / 2 ** 20),
        },
        null,
        2,
      ),
    );
  }, 120_000);

  test('files whose absurdity sits in a box nobody reads are served, never a 5xx', async () => {
    for (const entry of corpus.filter((candidate) => candidate.verdict === 'accepted')) {
      for (const kind of ['/ik-metadata.json', '/ik-thumbnail.jpg', '/ik-master.m3u8?tr=sr-240']) {
        const response = await fetch(`${base}/${entry.name}${kind}`);
        await response.arrayBuffer();
        expect(response.status, `${entry.name}${kind}`).toBeLessThan(500);
      }
    }
    expect(child.exitCode).toBeNull();
  }, 120_000);
});
