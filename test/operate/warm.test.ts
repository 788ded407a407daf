import { spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { dashReferences, hlsReferences } from '../../src/abs/read.js';
import {
  type CliIo,
  parseCliArgs,
  parseUrlList,
  prefixTargets,
  progressLine,
  resolveTarget,
  runCli,
  UsageError,
} from '../../src/cli/index.js';
import { fixturePath, REPO_ROOT } from '../support/fixtures.js';
import { startProxy, type TestProxy } from '../support/proxy.js';

/** Captures what the CLI prints. */
function captureIo(stdin = ''): CliIo & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    stdout: { write: (text: string) => (out += text) },
    stderr: { write: (text: string) => (err += text), isTTY: false },
    readStdin: async () => stdin,
    out: () => out,
    err: () => err,
  };
}

/** Runs the real entry point (`npm run warm` without npm) with `stdin`; resolves with status and output. */
function runEntryPoint(
  args: string[],
  stdin: string,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(REPO_ROOT, 'src', 'cli', 'index.ts'), ...args],
      {
        cwd: REPO_ROOT,
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

async function text(url: string): Promise<string> {
  const response = await fetch(url);
  expect(response.status, url).toBe(200);
  return response.text();
}

describe('warm CLI: arguments, lists and progress', () => {
  test('parses warm with defaults, flags in both spellings, and refuses mistakes', () => {
    expect(parseCliArgs(['warm', 'urls.txt'])).toEqual({
      command: 'warm',
      list: 'urls.txt',
      base: 'http://127.0.0.1:8080',
      concurrency: 2,
      timeoutSeconds: 600,
      transforms: [],
      thumbnails: [],
    });
    expect(parseCliArgs(['warm', '--prefix', '/videos/'])).toMatchObject({
      prefix: 'videos/',
      transforms: ['sr-240_360_720'],
      thumbnails: ['w-300'],
    });
    expect(parseCliArgs(['warm', '--prefix', '', '--tr', 'w-640', '--tr', 'sr-360'])).toMatchObject({
      prefix: '',
      transforms: ['w-640', 'sr-360'],
      thumbnails: [],
    });
    expect(
      parseCliArgs([
        'warm',
        '-',
        '--base',
        'https://cdn.example.com/v',
        '--concurrency=4',
        '--user-agent',
        'Safari',
      ]),
    ).toMatchObject({
      list: '-',
      base: 'https://cdn.example.com/v',
      concurrency: 4,
      userAgent: 'Safari',
    });
    expect(parseCliArgs([])).toEqual({ command: 'help' });
    expect(parseCliArgs(['serve'])).toEqual({ command: 'serve' });
    for (const bad of [
      ['warm'],
      ['warm', 'a', 'b'],
      ['warm', 'a', '--concurrency', '0'],
      ['warm', 'a', '--base', 'ftp://x'],
      ['warm', 'a', '--nope'],
      ['warm', 'a', '--prefix', 'v/'],
      ['warm', 'a', '--tr', 'w-1'],
      ['frobnicate'],
    ]) {
      expect(() => parseCliArgs(bad), bad.join(' ')).toThrow(UsageError);
    }
  });

  test('list files skip blanks and comments; paths join the base keeping its prefix', () => {
    expect(
      parseUrlList('# warm these\n/a.mp4?tr=w-300\n\n  https://x.example/b.mp4  \r\n#/skipped\n'),
    ).toEqual(['/a.mp4?tr=w-300', 'https://x.example/b.mp4']);
    expect(resolveTarget('/a.mp4?tr=w-300', 'https://cdn.example.com/v/')).toBe(
      'https://cdn.example.com/v/a.mp4?tr=w-300',
    );
    expect(resolveTarget('a.mp4', 'http://127.0.0.1:8080')).toBe('http://127.0.0.1:8080/a.mp4');
    expect(resolveTarget('https://other.example/a.mp4', 'http://127.0.0.1:8080')).toBe(
      'https://other.example/a.mp4',
    );
  });

  test('the progress bar fills with progress', () => {
    expect(progressLine(5, 10, 1, 2, 10)).toBe('[#####.....] 5/10  1 cached  2 failed');
  });
});

test('prefix targets: a transform per source, sr- ones as HLS masters, thumbnails; paths encoded', () => {
  expect(prefixTargets(['a b.mp4', 'dir/c.mov'], ['w-640', 'so-1:sr-360'], ['w-300'])).toEqual([
    '/a%20b.mp4?tr=w-640',
    '/a%20b.mp4/ik-master.m3u8?tr=so-1:sr-360',
    '/a%20b.mp4/ik-thumbnail.jpg?tr=w-300',
    '/dir/c.mov?tr=w-640',
    '/dir/c.mov/ik-master.m3u8?tr=so-1:sr-360',
    '/dir/c.mov/ik-thumbnail.jpg?tr=w-300',
  ]);
});

describe('warm CLI against a running proxy', () => {
  let proxy: TestProxy;
  let dir: string;
  beforeAll(async () => {
    proxy = await startProxy({});
    dir = await mkdtemp(path.join(os.tmpdir(), 'ikvp-warm-'));
  });
  afterAll(async () => {
    await proxy?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('warms outputs and whole HLS ladders, reports failures with their status, and a second run finds everything cached', {
    timeout: 180_000,
  }, async () => {
    const master = '/sample.mp4/ik-master.m3u8?tr=sr-240';
    const list = [
      '# a thumbnail, a video transform, an HLS ladder, and two that must fail',
      '/sample.mp4/ik-thumbnail.jpg?tr=so-2,w-200',
      '/sample.mp4?tr=w-320,du-2',
      master,
      '/sample.mp4?tr=w-banana',
      '/no-such-video.mp4?tr=w-100',
    ].join('\n');
    const file = path.join(dir, 'urls.txt');
    await writeFile(file, list);

    const first = captureIo();
    const status = await runCli(['warm', file, '--base', proxy.url, '--concurrency', '2'], first);
    expect(status, first.err()).toBe(1);

    // What the ladder consists of, read independently of the CLI after the fact.
    const masterText = await text(proxy.url + master);
    const playlists = hlsReferences(masterText, proxy.url + master);
    expect(playlists.length).toBe(2); // 240p video + audio
    const segments: string[] = [];
    for (const playlist of playlists) segments.push(...hlsReferences(await text(playlist), playlist));
    expect(segments.length).toBeGreaterThanOrEqual(4);
    for (const segment of segments) {
      const response = await fetch(segment);
      await response.arrayBuffer();
      expect(response.status, segment).toBe(200);
      expect(response.headers.get('x-cache'), segment).toMatch(/^HIT-/);
    }

    const expectedTotal = 2 + 1 + playlists.length + segments.length + 2;
    const summaryLine = first.out().split('\n')[0]!;
    expect(summaryLine).toMatch(
      new RegExp(
        `^warmed ${expectedTotal} URL\\(s\\) in [\\d.]+ s: ${expectedTotal - 2} done, 0 already cached, 2 failed$`,
      ),
    );
    expect(first.out()).toMatch(/FAILED 400 http:\/\/127\.0\.0\.1:\d+\/sample\.mp4\?tr=w-banana/);
    expect(first.out()).toMatch(/FAILED 404 http:\/\/127\.0\.0\.1:\d+\/no-such-video\.mp4/);
    expect(first.err().trim().split('\n')).toHaveLength(expectedTotal);

    // The real entry point, reading the list from standard input: now everything is a cache hit.
    const second = await runEntryPoint(['warm', '-', '--base', proxy.url, '--concurrency', '3'], list);
    expect(second.status, second.stderr).toBe(1);
    expect(second.stdout).toMatch(new RegExp(`: 0 done, ${expectedTotal - 2} already cached, 2 failed`));
  });

  test('the DASH manifest lists exactly the segments the HLS playlists list for the same ladder', async () => {
    const query = '?tr=sr-240_360';
    const hlsMaster = `${proxy.url}/sample.mp4/ik-master.m3u8${query}`;
    const fromHls: string[] = [];
    for (const playlist of hlsReferences(await text(hlsMaster), hlsMaster))
      fromHls.push(...hlsReferences(await text(playlist), playlist));
    const mpdUrl = `${proxy.url}/sample.mp4/ik-master.mpd${query}`;
    const fromDash = dashReferences(await text(mpdUrl), mpdUrl);
    expect(fromDash.length).toBeGreaterThan(0);
    expect([...fromDash].sort()).toEqual([...fromHls].sort());
  });

  test('an unreachable base is a failure with status 0, not a crash', async () => {
    // A port that was just free: nothing listens there.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const io = captureIo('/sample.mp4\n');
    const status = await runCli(['warm', '-', '--base', `http://127.0.0.1:${port}`, '--timeout', '5'], io);
    expect(status).toBe(1);
    expect(io.out()).toContain(
      `0 done, 0 already cached, 1 failed\n  FAILED --- http://127.0.0.1:${port}/sample.mp4 (fetch failed`,
    );
    expect(io.out()).toMatch(/ECONNREFUSED/);
  });

  test('--prefix lists the origin (from the environment) and warms each video source', {
    timeout: 120_000,
  }, async () => {
    const origin = path.join(dir, 'prefix-origin');
    await mkdir(path.join(origin, 'clips'), { recursive: true });
    await copyFile(fixturePath('sample.mp4'), path.join(origin, 'clips', 'one.mp4'));
    await writeFile(path.join(origin, 'clips', 'notes.txt'), 'not a video');
    const local = await startProxy({ ORIGIN: origin });
    const previous = process.env.ORIGIN;
    process.env.ORIGIN = origin;
    try {
      const io = captureIo();
      const status = await runCli(
        ['warm', '--prefix', 'clips/', '--tr', 'w-160,du-1', '--thumbnail', 'w-120', '--base', local.url],
        io,
      );
      expect(status, io.err()).toBe(0);
      expect(io.out()).toMatch(/: 2 done, 0 already cached, 0 failed/);
      const again = await fetch(`${local.url}/clips/one.mp4/ik-thumbnail.jpg?tr=w-120`);
      await again.arrayBuffer();
      expect(again.headers.get('x-cache')).toMatch(/^HIT-/);
    } finally {
      if (previous === undefined) delete process.env.ORIGIN;
      else process.env.ORIGIN = previous;
      await local.close();
    }
  });

  test('usage errors exit 2 with the usage text', async () => {
    const io = captureIo();
    expect(await runCli(['warm', '--concurrency', 'x'], io)).toBe(2);
    expect(io.err()).toMatch(/--concurrency expects a whole number[\s\S]*Usage:/);
  });
});
