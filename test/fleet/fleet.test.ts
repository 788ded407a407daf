import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { fetchBytes } from '../integration/helpers.js';
import { createFfmpegSpy, type FfmpegSpy } from '../support/ffmpeg-spy.js';
import { decodeCompletely, ffprobeBytes } from '../support/ffprobe.js';
import { FIXTURES_DIR } from '../support/fixtures.js';
import { type ProxyProcess, startProxyProcess } from '../support/proxy-process.js';
import { startTestS3, type TestS3 } from '../support/s3.js';
import { waitFor } from '../support/wait.js';
import { type FleetNginx, startFleetNginx } from './nginx.js';

/**
 * Three proxy nodes on loopback behind the shipped nginx config (deploy/nginx/), sharing one
 * RESULT_BUCKET (s3rver) and one ffmpeg spy (which reads inputs at native speed, so an encode is
 * still running when the test acts on it). Shows what the fleet design promises: one encode per
 * URL across the fleet, one cached copy, failover when a node dies mid-encode without anything
 * partial cached, and the shared tier answering after a URL moves to another node.
 */

let dir: string;
let s3: TestS3;
let spy: FfmpegSpy;
let nginx: FleetNginx;
const nodes: Array<{ proxy: ProxyProcess; cacheDir: string; host: string }> = [];

/** Sum of a metric's samples on one node (all label sets), or 0 if it is not exposed. */
async function metric(node: ProxyProcess, name: string): Promise<number> {
  const text = await (await fetch(`${node.url}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    const match = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`).exec(line);
    if (match) sum += Number(match[1]);
  }
  return sum;
}

/** ffmpeg jobs a node has finished (`ikvp_job_seconds` observations), from its /metrics. */
function jobsDone(node: ProxyProcess): Promise<number> {
  return metric(node, 'ikvp_job_seconds_count');
}

function alive(): typeof nodes {
  return nodes.filter(({ proxy }) => proxy.child.exitCode === null && proxy.child.signalCode === null);
}

/** Committed disk-cache entries of a node (`<aa>/<sha256>.json`; not tmp/ or live/ encodes in progress). */
async function diskEntries(cacheDir: string): Promise<string[]> {
  const out: string[] = [];
  for (const shard of await readdir(cacheDir).catch(() => [])) {
    if (!/^[0-9a-f]{2}$/.test(shard)) continue;
    for (const name of await readdir(path.join(cacheDir, shard)))
      if (name.endsWith('.json')) out.push(`${shard}/${name}`);
  }
  return out.sort();
}

async function bucketKeys(): Promise<string[]> {
  const listed = await s3.client.send(new ListObjectsV2Command({ Bucket: 'fleet', Prefix: 'results/' }));
  return (listed.Contents ?? []).map((item) => item.Key!).sort();
}

function nodeOf(host: string) {
  const node = nodes.find((candidate) => candidate.host === host);
  if (!node) throw new Error(`no node at ${host}`);
  return node;
}

/** Access-log lines of nginx for one request URI (path + query). */
async function logFor(uri: string) {
  return (await nginx.log()).filter((line) => line.uri === uri);
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ikvp-fleet-'));
  await mkdir(path.join(dir, 'origin'));
  await copyFile(path.join(FIXTURES_DIR, 'sample.mp4'), path.join(dir, 'origin', 'sample.mp4'));
  s3 = await startTestS3();
  await s3.createBucket('fleet');
  spy = await createFfmpegSpy({ realtime: true });
  const started = await Promise.all(
    ['a', 'b', 'c'].map(async (name) => {
      const cacheDir = path.join(dir, `cache-${name}`);
      const proxy = await startProxyProcess(
        {
          ...s3.env,
          ORIGIN: path.join(dir, 'origin'),
          CACHE_DIR: cacheDir,
          RESULT_BUCKET: 's3://fleet/results',
          FFMPEG_PATH: spy.path,
          MAX_JOBS: '2',
          LOG_LEVEL: 'info',
        },
        { startTimeoutMs: 60_000 },
      );
      return { proxy, cacheDir, host: new URL(proxy.url).host };
    }),
  );
  nodes.push(...started);
  nginx = await startFleetNginx(nodes.map(({ proxy }) => proxy.url));
}, 120_000);

afterAll(async () => {
  await nginx?.close();
  await Promise.all(nodes.map(({ proxy }) => proxy.stop(2000)));
  await s3?.close();
  await spy?.remove();
  if (dir) await rm(dir, { recursive: true, force: true, maxRetries: 5 });
}, 60_000);

describe('a fleet of three nodes behind the shipped nginx config', () => {
  test('50 identical cold requests through nginx -> 1 ffmpeg run across the fleet, 50 identical thumbnails', async () => {
    const uri = '/sample.mp4/ik-thumbnail.jpg?tr=so-2,w-200';
    const runsBefore = (await spy.runs()).length;
    const started = Date.now();
    const answers = await Promise.all(Array.from({ length: 50 }, () => fetchBytes(`${nginx.url}${uri}`)));
    const elapsedMs = Date.now() - started;
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      expect(answer.body.equals(answers[0]!.body)).toBe(true);
    }
    const image = await sharp(answers[0]!.body).metadata();
    expect([image.format, image.width]).toEqual(['jpeg', 200]);

    expect((await spy.runs()).length - runsBefore).toBe(1);
    const jobs = await Promise.all(nodes.map(({ proxy }) => jobsDone(proxy)));
    expect(jobs.reduce((a, b) => a + b, 0)).toBe(1);
    const lines = await logFor(uri);
    expect(lines).toHaveLength(50);
    const servedBy = new Set(lines.map((line) => line.answeredBy));
    expect(servedBy.size).toBe(1);
    // The node that answered is the one that ran the job.
    expect(jobs[nodes.indexOf(nodeOf([...servedBy][0]!))]).toBe(1);
    console.log(`fleet: 50 cold identical requests answered in ${elapsedMs} ms with 1 encode`);
  }, 60_000);

  test('each URL is served from one node: its memory or disk, never copied to the others', async () => {
    const uris = Array.from(
      { length: 12 },
      (_, i) => `/sample.mp4/ik-thumbnail.jpg?tr=so-1,w-${120 + 2 * i}`,
    );
    const before = await Promise.all(nodes.map(({ cacheDir }) => diskEntries(cacheDir)));
    // Cold, all at once; then each twice more.
    for (const answer of await Promise.all(uris.map((uri) => fetchBytes(`${nginx.url}${uri}`))))
      expect(answer.status).toBe(200);
    const started = Date.now();
    for (let round = 0; round < 2; round++) {
      for (const uri of uris) {
        const again = await fetchBytes(`${nginx.url}${uri}`);
        expect(again.status).toBe(200);
        expect(again.headers.get('x-cache')).toMatch(/^HIT-(MEMORY|DISK)$/);
      }
    }
    const hitMs = (Date.now() - started) / (2 * uris.length);
    const owners = new Map<string, string>();
    for (const uri of uris) {
      const lines = await logFor(uri);
      expect(lines).toHaveLength(3);
      const servedBy = new Set(lines.map((line) => line.answeredBy));
      expect(servedBy.size, `${uri} was served by ${[...servedBy].join(' and ')}`).toBe(1);
      owners.set(uri, [...servedBy][0]!);
    }
    // Spread over more than one node (12 URLs on one node of three: 1 in 177 147 by chance).
    expect(new Set(owners.values()).size).toBeGreaterThan(1);
    // Stored once across the fleet: each node's disk gained exactly the entries of its own URLs.
    const after = await Promise.all(nodes.map(({ cacheDir }) => diskEntries(cacheDir)));
    const gained = nodes.map((_, i) => after[i]!.filter((entry) => !before[i]!.includes(entry)).length);
    const owned = nodes.map(({ host }) => [...owners.values()].filter((owner) => owner === host).length);
    expect(gained).toEqual(owned);
    console.log(
      `fleet: 12 URLs on nodes ${owned.join('/')}; warm hit through nginx ${hitMs.toFixed(1)} ms per request`,
    );
  }, 90_000);

  test('with RESULT_BUCKET, a segment made on one node is HIT-S3 on another after its node leaves', async () => {
    const master = await fetchBytes(`${nginx.url}/sample.mp4/ik-master.m3u8?tr=sr-240`);
    expect(master.status).toBe(200);
    const base = `${nginx.url}/sample.mp4/ik-master.m3u8`;
    const variantRef = master.body
      .toString()
      .split('\n')
      .find((line) => line && !line.startsWith('#'))!;
    const variantUrl = new URL(variantRef, base);
    const variant = await fetchBytes(variantUrl.href);
    expect(variant.status).toBe(200);
    const segmentRef = variant.body
      .toString()
      .split('\n')
      .filter((line) => line && !line.startsWith('#'))[1]!;
    const segmentUrl = new URL(segmentRef, variantUrl);
    const uri = segmentUrl.pathname + segmentUrl.search;

    const keysBefore = await bucketKeys();
    const made = await fetchBytes(segmentUrl.href);
    expect(made.status).toBe(200);
    expect(made.headers.get('x-cache')).toMatch(/^MISS/);
    const maker = nodeOf((await logFor(uri))[0]!.answeredBy);
    // The shared tier is written in the background; wait until the segment is in the bucket.
    expect(await waitFor(async () => (await bucketKeys()).length > keysBefore.length, 15_000)).toBe(true);

    // The maker leaves (a graceful stop, as in a rolling update): nginx re-hashes its URLs.
    await maker.proxy.stop(15_000);
    const runsBefore = (await spy.runs()).length;
    const diskBefore = await Promise.all(nodes.map(({ cacheDir }) => diskEntries(cacheDir)));
    const moved = await fetchBytes(segmentUrl.href);
    expect(moved.status).toBe(200);
    expect(moved.headers.get('x-cache')).toBe('HIT-S3');
    expect(moved.body.equals(made.body)).toBe(true);
    const answeredBy = (await logFor(uri)).at(-1)!.answeredBy;
    expect(answeredBy).not.toBe(maker.host);
    expect((await spy.runs()).length).toBe(runsBefore);
    // The new owner copies the entry into its own disk in the background: its next answers are local.
    const owner = nodeOf(answeredBy);
    const ownerIndex = nodes.indexOf(owner);
    expect(
      await waitFor(
        async () => (await diskEntries(owner.cacheDir)).length > diskBefore[ownerIndex]!.length,
        10_000,
      ),
    ).toBe(true);
    expect((await fetchBytes(segmentUrl.href)).headers.get('x-cache')).toMatch(/^HIT-(MEMORY|DISK)$/);
  }, 90_000);

  test('a node killed mid-encode: the viewer is cut, the next request is served whole by another node, nothing partial is cached', async () => {
    expect(alive()).toHaveLength(2);
    const uri = '/sample.mp4?tr=w-320,du-6';
    const diskBefore = await Promise.all(nodes.map(({ cacheDir }) => diskEntries(cacheDir)));
    const keysBefore = await bucketKeys();

    const viewer = new AbortController();
    const first = await fetch(`${nginx.url}${uri}`, { signal: viewer.signal });
    expect(first.status).toBe(200);
    expect(first.headers.get('x-cache')).toBe('MISS-STREAMING');
    const reader = first.body!.getReader();
    expect((await reader.read()).done).toBe(false);
    // The node running the encode is the one with a job running.
    let encoding: (typeof nodes)[number] | undefined;
    await waitFor(async () => {
      for (const node of alive()) if ((await metric(node.proxy, 'ikvp_jobs_running')) > 0) encoding = node;
      return encoding !== undefined;
    }, 5000);
    expect(encoding).toBeDefined();
    encoding!.proxy.child.kill('SIGKILL');
    await encoding!.proxy.exited;
    // The viewer's answer stops short: an error, never a clean end of a complete file.
    const cut = await (async () => {
      try {
        for (;;) if ((await reader.read()).done) return 'ended';
      } catch {
        return 'error';
      }
    })();
    expect(cut).toBe('error');
    viewer.abort();

    // Nothing of the killed encode was committed anywhere: no disk entry on any node, nothing in the bucket.
    const diskAfterKill = await Promise.all(nodes.map(({ cacheDir }) => diskEntries(cacheDir)));
    expect(diskAfterKill).toEqual(diskBefore);
    expect(await bucketKeys()).toEqual(keysBefore);

    // The viewer asks again: another node answers with the whole, decodable video.
    const again = await fetchBytes(`${nginx.url}${uri}`);
    expect(again.status).toBe(200);
    const survivor = alive()[0]!;
    expect((await logFor(uri)).at(-1)!.answeredBy).toBe(survivor.host);
    const file = path.join(dir, 'again.mp4');
    await writeFile(file, again.body);
    await decodeCompletely(file);
    const probed = await ffprobeBytes(again.body, 'mp4');
    expect(Number(probed.format.duration)).toBeGreaterThan(5.5);
    expect(Number(probed.format.duration)).toBeLessThan(6.5);
    // And from now on it is a hit of that whole output.
    const third = await fetchBytes(`${nginx.url}${uri}`);
    expect(third.headers.get('x-cache')).toMatch(/^HIT-(MEMORY|DISK)$/);
    expect(third.body.equals(again.body)).toBe(true);
  }, 90_000);
});
