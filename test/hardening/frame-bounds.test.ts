import { spawn } from 'node:child_process';
import { createReadStream, existsSync } from 'node:fs';
import { mkdtemp, open, readFile, rm, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ProxyError } from '../../src/errors.js';
import { frameArgs, type SourceInput, splitFrameFilters } from '../../src/media/argv.js';
import { renderStill } from '../../src/media/still.js';
import type { MediaInfo } from '../../src/media/types.js';
import { videoArgs } from '../../src/media/video-argv.js';
import {
  type PlanLimits,
  planThumbnail,
  planVideo,
  type ThumbnailPlan,
  type VideoPlan,
} from '../../src/plan/index.js';
import { parseTransformation } from '../../src/url/index.js';
import type { ProxyRequest } from '../../src/url/types.js';
import { expectJsonError, fetchBytes } from '../integration/helpers.js';
import { ffprobeCsv, REAL_FFMPEG } from '../support/ffprobe.js';
import { FIXTURES_DIR } from '../support/fixtures.js';
import { mediaInfo } from '../support/media-info.js';
import { useProxy } from '../support/proxy.js';

/**
 * Absurd output shapes (design §5, last row): `w-16384,h-2` once scaled a 1280x720 frame to
 * 16384x9216 before cutting two rows from it (ffmpeg peaked at 1.8 GB, the answer was a 500).
 * Each shape must now be either a 4xx or the exact small output, made without any frame larger
 * than the source or the output. The argv the builders make is run as it is, against a loopback
 * range server like the proxy's own source endpoint, and ffmpeg's peak RSS is read by
 * /usr/bin/time and compared with an ordinary request's in the same run.
 */

const TIME = '/usr/bin/time';
const SAMPLE = path.join(FIXTURES_DIR, 'sample.mp4');
/** The defaults of MAX_OUTPUT_PIXELS and friends. */
const LIMITS: PlanLimits = {
  maxOutputPixels: 8_294_400,
  maxSourceDuration: 10_800,
  maxSourcePixels: 9_437_184,
  maxSourceStreams: 16,
};
/** fixtures/sample.mp4 as the planner sees it (fixtures/manifest.json). */
const SAMPLE_INFO: MediaInfo = mediaInfo({ duration: 12 });

function request(kind: 'thumbnail' | 'video', tr: string): ProxyRequest {
  return {
    sourcePath: 'sample.mp4',
    suffix: { kind } as ProxyRequest['suffix'],
    params: parseTransformation(tr, {}),
    canonical: tr,
  };
}

/** A loopback server answering byte ranges of one file, as the proxy's source endpoint does. */
async function startRangeServer(file: string): Promise<{ server: Server; url: string }> {
  const size = (await stat(file)).size;
  const server = createServer((req, res) => {
    const match = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    const start = match ? Number(match[1]) : 0;
    const end = match?.[2] ? Math.min(Number(match[2]), size - 1) : size - 1;
    res.writeHead(match ? 206 : 200, {
      'Content-Type': 'video/mp4',
      'Accept-Ranges': 'bytes',
      'Content-Length': String(end - start + 1),
      ...(match ? { 'Content-Range': `bytes ${start}-${end}/${size}` } : {}),
    });
    createReadStream(file, { start, end }).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/sample.mp4` };
}

interface Run {
  status: number | null;
  stdout: Buffer;
  /** Peak resident set size of ffmpeg, in MiB. */
  peakMiB: number;
  seconds: number;
}

/** Runs ffmpeg with `args` under /usr/bin/time; stdout goes to `outFile` when given, else memory. */
async function runMeasured(args: string[], dir: string, outFile?: string): Promise<Run> {
  const report = path.join(dir, `time-${Date.now()}-${Math.random()}.txt`);
  const out = outFile ? await open(outFile, 'w') : undefined;
  const started = performance.now();
  const child = spawn(TIME, ['-f', '%M', '-o', report, REAL_FFMPEG, ...args], {
    stdio: ['ignore', out ? out.fd : 'pipe', 'pipe'],
  });
  const chunks: Buffer[] = [];
  child.stdout?.on('data', (chunk: Buffer) => chunks.push(chunk));
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const seconds = (performance.now() - started) / 1000;
  await out?.close();
  expect(status, stderr).toBe(0);
  const kib = Number((await readFile(report, 'utf8')).trim().split('\n').at(-1));
  return { status, stdout: Buffer.concat(chunks), peakMiB: kib / 1024, seconds };
}

async function probeSize(file: string): Promise<string> {
  const rows = await ffprobeCsv(file, 'stream=width,height', { select: 'v:0' }).catch(() => []);
  return rows.map((row) => row.join('x')).join('\n');
}

describe.skipIf(!existsSync(TIME))('absurd output shapes through the real argv and ffmpeg', () => {
  let range: { server: Server; url: string };
  let dir: string;
  let input: SourceInput;

  beforeAll(async () => {
    range = await startRangeServer(SAMPLE);
    dir = await mkdtemp(path.join(os.tmpdir(), 'ikvp-frame-bounds-'));
    input = { url: range.url, demuxer: 'mov' };
  });
  afterAll(async () => {
    await new Promise((resolve) => range.server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  async function thumbnail(tr: string) {
    const plan: ThumbnailPlan = planThumbnail(request('thumbnail', tr), SAMPLE_INFO, LIMITS);
    const { filters, rest } = splitFrameFilters(plan.ops);
    const run = await runMeasured(frameArgs(input, plan.time, false, filters), dir);
    const started = performance.now();
    const still = await renderStill({
      frame: run.stdout,
      ops: rest,
      format: plan.format,
      quality: plan.quality,
      maxInputPixels: LIMITS.maxSourcePixels,
    });
    const meta = await sharp(still).metadata();
    return {
      plan,
      run,
      size: `${meta.width}x${meta.height}`,
      stillSeconds: (performance.now() - started) / 1000,
    };
  }

  async function video(tr: string) {
    const plan: VideoPlan = planVideo(request('video', tr).params, SAMPLE_INFO, LIMITS, 'mp4');
    const file = path.join(dir, `${tr.replaceAll(/\W/g, '_')}.mp4`);
    const run = await runMeasured(videoArgs(input, plan), dir, file);
    return { plan, run, size: await probeSize(file) };
  }

  // Times are compared with an ordinary request in the same run (design §5: ratios, never
  // absolute times), since the 2 cores are shared; on an idle machine each answer takes < 1 s.
  test.each([
    ['w-16384,h-2', '16384x2'],
    ['w-2,h-16384', '2x16384'],
  ])(
    'thumbnail %s is exactly %s, with ffmpeg no bigger or slower than for an ordinary thumbnail',
    async (tr, expected) => {
      const ordinary = await thumbnail('so-1,w-300,h-300');
      const absurd = await thumbnail(`so-1,${tr}`);
      expect(absurd.size).toBe(expected);
      // Before: ffmpeg scaled to 16384x9216 (or 29127x16384) first and peaked at 1.4-1.8 GB.
      expect(absurd.run.peakMiB).toBeLessThan(ordinary.run.peakMiB + 48);
      // The only frame ffmpeg hands over is the decoded source, never the enlarged one.
      expect(absurd.run.stdout.length).toBeLessThan(1280 * 720 * 3 + 65_536);
      const seconds = (run: typeof absurd) => run.run.seconds + run.stillSeconds;
      expect(seconds(absurd)).toBeLessThan(2 * seconds(ordinary) + 1);
      console.info(
        `thumbnail ${tr}: ffmpeg peak ${absurd.run.peakMiB.toFixed(0)} MiB, ${seconds(absurd).toFixed(2)} s (w-300,h-300: ${ordinary.run.peakMiB.toFixed(0)} MiB, ${seconds(ordinary).toFixed(2)} s)`,
      );
    },
  );

  test('video w-16380,h-2 is exactly 16380x2, encoded without a larger frame', async () => {
    const ordinary = await video('w-640,du-1');
    const absurd = await video('w-16380,h-2,du-1');
    expect(absurd.size).toBe('16380x2');
    expect(absurd.plan.ops.map((op) => op.op)).toEqual(['crop', 'resize']);
    // x264 pads a 2-row frame to 16-row macroblocks and keeps a lookahead of them, which costs
    // tens of MB; before, the 16380x9214 intermediate frames cost 620 MB for one second.
    expect(absurd.run.peakMiB).toBeLessThan(ordinary.run.peakMiB + 160);
    expect(absurd.run.seconds).toBeLessThan(3 * ordinary.run.seconds + 1);
    console.info(
      `video w-16380,h-2 (1 s): ffmpeg peak ${absurd.run.peakMiB.toFixed(0)} MiB, ${absurd.run.seconds.toFixed(2)} s (w-640: ${ordinary.run.peakMiB.toFixed(0)} MiB, ${ordinary.run.seconds.toFixed(2)} s)`,
    );
  });

  test.each([
    ['thumbnail', 'w-16384,h-2,f-webp'],
    ['video', 'w-16380,h-2,vc-av1'],
    ['video', 'w-16384,h-16384'],
    ['thumbnail', 'h-1,ar-99999-1'],
  ] as const)('%s %s is a 422 before any ffmpeg runs', (kind, tr) => {
    const plan = () =>
      kind === 'thumbnail'
        ? planThumbnail(request(kind, tr), SAMPLE_INFO, LIMITS)
        : planVideo(request(kind, tr).params, SAMPLE_INFO, LIMITS, 'mp4');
    expect(plan).toThrow(ProxyError);
    try {
      plan();
    } catch (error) {
      expect((error as ProxyError).status).toBe(422);
    }
  });
});

describe('absurd output shapes through the proxy', () => {
  const proxy = useProxy({ ORIGIN: FIXTURES_DIR });

  async function timed(url: string) {
    const started = performance.now();
    const response = await fetchBytes(`${proxy.url}${url}`);
    return { response, seconds: (performance.now() - started) / 1000 };
  }

  test.each([
    ['w-16384,h-2', 'fo-left', '16384x2'],
    ['w-2,h-16384', 'fo-top', '2x16384'],
  ])(
    'thumbnail %s answers the exact output about as quickly as an ordinary one',
    async (tr, focus, expected) => {
      // The ordinary one goes first and also pays for reading the source's index: a lenient yardstick.
      const ordinary = await timed(`/sample.mp4/ik-thumbnail.jpg?tr=so-2,w-300,h-300,${focus}`);
      expect(ordinary.response.status).toBe(200);
      const absurd = await timed(`/sample.mp4/ik-thumbnail.jpg?tr=so-2,${tr}`);
      expect(absurd.response.status, absurd.response.body.toString()).toBe(200);
      expect(absurd.response.headers.get('content-type')).toBe('image/jpeg');
      const meta = await sharp(absurd.response.body).metadata();
      expect(`${meta.width}x${meta.height}`).toBe(expected);
      expect(absurd.seconds).toBeLessThan(2 * ordinary.seconds + 1);
    },
  );

  async function firstBytes(url: string) {
    const started = performance.now();
    const response = await fetch(`${proxy.url}${url}`);
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    const first = await reader.read();
    expect(first.done).toBe(false);
    const seconds = (performance.now() - started) / 1000;
    const chunks: Uint8Array[] = [first.value!];
    for (let next = await reader.read(); !next.done; next = await reader.read()) chunks.push(next.value);
    return { seconds, body: Buffer.concat(chunks) };
  }

  test('video w-16380,h-2 streams the exact output, its first bytes about as soon as an ordinary one', async () => {
    const ordinary = await firstBytes('/sample.mp4?tr=w-640,du-2');
    const absurd = await firstBytes('/sample.mp4?tr=w-16380,h-2,du-2');
    expect(absurd.seconds).toBeLessThan(2 * ordinary.seconds + 1);
    const file = path.join(os.tmpdir(), `ikvp-frame-bounds-${process.pid}.mp4`);
    const handle = await open(file, 'w');
    await handle.writeFile(absurd.body);
    await handle.close();
    try {
      expect(await probeSize(file)).toBe('16380x2');
    } finally {
      await rm(file, { force: true });
    }
  });

  test.each([
    ['/sample.mp4/ik-thumbnail.jpg?tr=w-16384,h-2,f-webp', /'f-webp'/],
    ['/sample.mp4?tr=w-16380,h-2,vc-av1', /'vc-av1'/],
    ['/sample.mp4/ik-thumbnail.jpg?tr=w-16384,h-2,c-at_least', /'w', 'h', 'c'/],
  ])('%s is a 422 naming what it asks for', async (url, names) => {
    const error = expectJsonError(await fetchBytes(`${proxy.url}${url}`), 422);
    expect(error.message).toMatch(names);
  });
});
