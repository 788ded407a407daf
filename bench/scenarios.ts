import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { BenchMedia } from './media.js';
import type { OriginCounter } from './origin-counter.js';
import {
  localiseArgv,
  probeReferenceArgs,
  segmentReferenceArgs,
  thumbnailReferenceArgs,
  transcodeReferenceArgs,
} from './reference.js';
import { type Row, ratioText } from './report.js';
import { type ProxyChild, processCpuMicros, startHonoReference, startNginx } from './servers.js';
import { formatBytes, formatMs, median, mustRun, runStreamed, timedGet } from './util.js';
import { runWrk, writeRangeScript } from './wrk.js';

/** Which generated source an S3 object is a copy of. */
export type SourceName = keyof BenchMedia;

/** Everything a scenario may use. */
export interface BenchContext {
  repoRoot: string;
  /** Scratch folder of this run. */
  work: string;
  media: BenchMedia;
  proxy: ProxyChild;
  counter: OriginCounter;
  /** Object key of the canonical upload of each source. */
  keys: Record<SourceName, string>;
  /** Copies a source to a new object key (so the proxy has never seen it: cold stat, probe and cache). */
  freshCopy(source: SourceName, tag: string): Promise<string>;
  /** ffmpeg / ffprobe processes the proxy has started so far, and the wall time of those that ended (wrapper logs). */
  processRuns(): Promise<ProcessRuns>;
  /**
   * Waits until the proxy runs no ffmpeg/ffprobe (a prefetch, a cancelled job finishing), so
   * the next measurement, the proxy's or the reference's, has the CPUs to itself.
   */
  settle(): Promise<void>;
  /** Starts a second proxy process with the same configuration (for a clean peak-RSS reading). */
  startExtraProxy(tag: string): Promise<ProxyChild>;
  log(line: string): void;
  /** Free-text findings for docs/benchmarks.md. */
  details: string[];
}

/** What the FFMPEG_PATH / FFPROBE_PATH wrappers logged. */
export interface ProcessRuns {
  ffmpeg: number;
  ffprobe: number;
  /** Arguments of every ffmpeg start, space-joined, in start order. */
  ffmpegArgv: string[];
  /** Wall milliseconds of each finished run, in finishing order. */
  ffmpegMs: number[];
  ffprobeMs: number[];
}

function newRuns(before: ProcessRuns, after: ProcessRuns): string {
  const list = (values: number[]) => values.map((ms) => formatMs(ms)).join(', ') || 'none';
  return `ffprobe ${list(after.ffprobeMs.slice(before.ffprobeMs.length))}; ffmpeg ${list(after.ffmpegMs.slice(before.ffmpegMs.length))}`;
}

/**
 * Checks that the ffmpeg the proxy ran (as its wrapper logged it) used exactly the reference's
 * settings once its loopback input and stdout are swapped for the reference's file names.
 */
function sameSettings(proxyArgv: string | undefined, reference: readonly string[], input: string): string {
  if (!proxyArgv) return 'the proxy ran no ffmpeg';
  const args = proxyArgv.split(' ');
  const url = args[args.indexOf('-i') + 1] ?? '';
  const localised = localiseArgv(args, url, input, reference[reference.length - 1]!);
  return localised.join(' ') === reference.join(' ')
    ? "identical to the proxy's ffmpeg argv"
    : `DIFFERENT from the proxy's ffmpeg argv \`${proxyArgv}\``;
}

/** Repetitions per scenario (median taken). */
export const REPS = { thumbnail: 5, wrk: 3, transcode: 5, segment: 5, range: 3 } as const;
const WRK_SECONDS = 5;

function sha(buffer: Buffer | undefined): string {
  return createHash('sha256')
    .update(buffer ?? Buffer.alloc(0))
    .digest('hex')
    .slice(0, 16);
}

function unavailable(scenario: string, metric: string, why: string): Row {
  return {
    scenario,
    metric,
    proxy: `not available (${why})`,
    reference: '-',
    ratio: '-',
    bar: '-',
    pass: undefined,
  };
}

async function expectOk(url: string, status: number, what: string): Promise<void> {
  if (status !== 200 && status !== 206) throw new Error(`${what}: ${url} answered ${status}`);
}

/** 1. Cold thumbnail from S3 at so-30,w-300 vs `ffmpeg -ss 30 -i local.mp4 -frames:v 1`. */
export async function coldThumbnail(ctx: BenchContext): Promise<{ rows: Row[]; cachedUrl: string }> {
  const proxyMs: number[] = [];
  const referenceMs: number[] = [];
  const originShare: number[] = [];
  const originRequests: number[] = [];
  const knownSourceMs: number[] = [];
  const objectSize = (await stat(ctx.media.big)).size;
  let cachedUrl = '';
  const out = path.join(ctx.work, 'ref-thumb.jpg');
  for (let rep = 1; rep <= REPS.thumbnail; rep++) {
    const key = await ctx.freshCopy('big', `s1-${rep}`);
    await ctx.settle();
    const url = `${ctx.proxy.url}/${key}/ik-thumbnail.jpg?tr=so-30,w-300`;
    ctx.counter.reset();
    const runsBefore = await ctx.processRuns();
    const response = await timedGet(url);
    await expectOk(url, response.status, 'cold thumbnail');
    const origin = ctx.counter.counts();
    const runs = newRuns(runsBefore, await ctx.processRuns());
    proxyMs.push(response.totalMs);
    originShare.push((origin.bytes / objectSize) * 100);
    originRequests.push(origin.requests);
    if (rep === 1) {
      cachedUrl = url;
      ctx.details.push(
        `1: one cold thumbnail (${formatMs(response.totalMs)}; Server-Timing: ${response.headers['server-timing'] ?? '-'}; child processes: ${runs}) made ${origin.requests} origin requests: ` +
          `${origin.records.map((r) => `${r.method} ${r.range ?? '(no range)'} -> ${formatBytes(r.bytes)}`).join('; ')}.`,
      );
    }
    // Same source again at another time: stat and probe are cached, only the frame job runs.
    const known = await timedGet(`${ctx.proxy.url}/${key}/ik-thumbnail.jpg?tr=so-30.${rep},w-300`);
    await expectOk(url, known.status, 'thumbnail of a known source');
    knownSourceMs.push(known.totalMs);
    await ctx.settle();
    referenceMs.push((await mustRun('ffmpeg', thumbnailReferenceArgs(ctx.media.big, 30, out))).ms);
  }
  ctx.details.push(
    `1: per repetition, proxy new source / known source / raw ffmpeg: ${proxyMs.map((ms, i) => `${formatMs(ms)} / ${formatMs(knownSourceMs[i]!)} / ${formatMs(referenceMs[i]!)}`).join('; ')}.`,
  );
  const ratio = median(proxyMs) / median(referenceMs);
  const knownRatio = median(knownSourceMs) / median(referenceMs);
  const share = median(originShare);
  return {
    cachedUrl,
    rows: [
      {
        scenario: '1 cold thumbnail',
        metric: 'new source, so-30,w-300: total time',
        proxy: formatMs(median(proxyMs)),
        reference: `${formatMs(median(referenceMs))} (ffmpeg -ss 30, local)`,
        ratio: ratioText(ratio),
        // Design §5, second round (the first round's bar was 1.3x).
        bar: '<= 1.0x',
        pass: ratio <= 1.0,
      },
      {
        scenario: '1 cold thumbnail',
        metric: 'known source (probe cached), new frame',
        proxy: formatMs(median(knownSourceMs)),
        reference: formatMs(median(referenceMs)),
        ratio: ratioText(knownRatio),
        bar: '(info)',
        pass: undefined,
      },
      {
        scenario: '1 cold thumbnail',
        metric: 'origin bytes read / object size',
        proxy: `${formatBytes((share / 100) * objectSize)} in ${median(originRequests)} requests`,
        reference: formatBytes(objectSize),
        ratio: `${share.toFixed(1)}%`,
        bar: '<= 10%',
        pass: share <= 10,
      },
    ],
  };
}

/** Headers the HTTP server itself writes per connection or per answer, left out of the copy. */
const PER_ANSWER_HEADERS = new Set(['date', 'connection', 'keep-alive', 'content-length', 'x-request-id']);

/** One wrk run plus the CPU time the server process used during it, per request. */
async function loadRun(
  url: string,
  pid: number,
): Promise<{ rps: number; p99Ms: number; cpuMicros: number; bad: number }> {
  const before = await processCpuMicros(pid);
  const run = await runWrk({ url, connections: 32, threads: 2, seconds: WRK_SECONDS });
  const used = (await processCpuMicros(pid)) - before;
  return {
    rps: run.requestsPerSecond,
    p99Ms: run.p99Ms,
    cpuMicros: used / Math.max(1, run.requests),
    bad: run.non2xx + run.socketErrors,
  };
}

/**
 * 2. Cached thumbnail at 32 connections vs two bare Hono apps serving the same bytes: one with
 * Hono's minimal headers, one with the headers the proxy's hit carries (a new request id each).
 */
export async function cachedThumbnail(ctx: BenchContext, url: string): Promise<Row[]> {
  const warm = await timedGet(url, { keepBody: true });
  await expectOk(url, warm.status, 'cached thumbnail');
  // The second answer is the replayed hit whose headers the same-headers reference copies.
  const hit = await timedGet(url, { keepBody: true });
  const tier = String(hit.headers['x-cache'] ?? '');
  const file = path.join(ctx.work, 'thumb.jpg');
  await writeFile(file, warm.body!);
  const sameHeaders: Record<string, string> = {};
  for (const [name, value] of Object.entries(hit.headers)) {
    if (!PER_ANSWER_HEADERS.has(name) && typeof value === 'string') sameHeaders[name] = value;
  }
  const headersFile = path.join(ctx.work, 'hit-headers.json');
  await writeFile(headersFile, JSON.stringify(sameHeaders));
  const contentType = String(warm.headers['content-type'] ?? 'image/jpeg');
  const minimal = await startHonoReference(ctx.repoRoot, file, contentType);
  const same = await startHonoReference(ctx.repoRoot, file, contentType, headersFile);
  const proxyRuns = [];
  const minimalRuns = [];
  const sameRuns = [];
  try {
    for (const reference of [minimal, same]) {
      const check = await timedGet(reference.url, { keepBody: true });
      if (sha(check.body) !== sha(warm.body))
        throw new Error('the Hono reference does not serve the same bytes');
    }
    const sameCheck = await timedGet(same.url);
    const missing = Object.keys(sameHeaders).filter((name) => sameCheck.headers[name] !== sameHeaders[name]);
    if (missing.length > 0) throw new Error(`the same-headers reference lacks ${missing.join(', ')}`);
    await ctx.settle();
    for (let rep = 0; rep < REPS.wrk; rep++) {
      proxyRuns.push(await loadRun(url, ctx.proxy.pid));
      minimalRuns.push(await loadRun(`${minimal.url}/thumb.jpg`, minimal.pid));
      sameRuns.push(await loadRun(`${same.url}/thumb.jpg`, same.pid));
    }
  } finally {
    await minimal.close();
    await same.close();
  }
  const bad = proxyRuns.reduce((sum, run) => sum + run.bad, 0);
  ctx.details.push(
    `2: ${formatBytes(warm.bytes)} JPEG served as X-Cache ${tier} with ${Object.keys(sameHeaders).length + 5} headers (${Object.keys(sameHeaders).join(', ')}, Content-Length, X-Request-Id and the server's Date, Connection, Keep-Alive); the same-headers reference sends exactly those; wrk -c32 -t2 -d${WRK_SECONDS}s --latency, ${REPS.wrk} runs each, interleaved; proxy non-2xx + socket errors: ${bad}. Server CPU per request is the process's user + system time (/proc) over the run divided by its requests: steadier than throughput on a shared host, since wrk shares the 2 cores.`,
  );
  const med = (runs: { rps: number }[]) => median(runs.map((run) => run.rps));
  const cpu = (runs: { cpuMicros: number }[]) => median(runs.map((run) => run.cpuMicros));
  const [proxyRps, minimalRps, sameRps] = [med(proxyRuns), med(minimalRuns), med(sameRuns)];
  const proxyP99 = median(proxyRuns.map((run) => run.p99Ms));
  const sameP99 = median(sameRuns.map((run) => run.p99Ms));
  return [
    {
      scenario: '2 cached thumbnail',
      metric: 'throughput at 32 connections vs the same headers',
      proxy: `${Math.round(proxyRps)} req/s`,
      reference: `${Math.round(sameRps)} req/s (bare Hono, same headers)`,
      ratio: ratioText(proxyRps / sameRps),
      bar: '>= 0.8x',
      pass: proxyRps / sameRps >= 0.8 && bad === 0,
    },
    {
      scenario: '2 cached thumbnail',
      metric: 'throughput at 32 connections vs minimal headers',
      proxy: `${Math.round(proxyRps)} req/s`,
      reference: `${Math.round(minimalRps)} req/s (bare Hono, Content-Type only)`,
      ratio: ratioText(proxyRps / minimalRps),
      bar: '>= 0.6x',
      pass: proxyRps / minimalRps >= 0.6 && bad === 0,
    },
    {
      scenario: '2 cached thumbnail',
      metric: 'server CPU per request (same headers; minimal)',
      proxy: `${cpu(proxyRuns).toFixed(1)} µs`,
      reference: `${cpu(sameRuns).toFixed(1)} µs; ${cpu(minimalRuns).toFixed(1)} µs`,
      ratio: `${ratioText(cpu(proxyRuns) / cpu(sameRuns))}; ${ratioText(cpu(proxyRuns) / cpu(minimalRuns))}`,
      bar: '(info)',
      pass: undefined,
    },
    {
      scenario: '2 cached thumbnail',
      metric: 'p99 latency at 32 connections vs the same headers',
      proxy: `${proxyP99.toFixed(1)} ms`,
      reference: `${sameP99.toFixed(1)} ms`,
      ratio: ratioText(proxyP99 / sameP99),
      bar: '<= 1.25x (0.8x speed)',
      pass: proxyP99 / sameP99 <= 1.25,
    },
  ];
}

/** 3. New 360p transcode: first byte and total vs raw ffmpeg with the product's argv. */
export async function newTranscode(ctx: BenchContext): Promise<Row[]> {
  const tr = 'h-360';
  const firstByte: number[] = [];
  const total: number[] = [];
  const reference: number[] = [];
  const referenceFirstByte: number[] = [];
  const out = path.join(ctx.work, 'ref-360.mp4');
  const args = await transcodeReferenceArgs(ctx.media.big, tr, 'pipe:1');
  let sizes = '';
  let settings = '';
  for (let rep = 1; rep <= REPS.transcode; rep++) {
    const key = await ctx.freshCopy('big', `s3-${rep}`);
    await ctx.settle();
    const url = `${ctx.proxy.url}/${key}?tr=${tr}`;
    const before = await ctx.processRuns();
    const response = await timedGet(url);
    const proxyArgv = (await ctx.processRuns()).ffmpegArgv.slice(before.ffmpegArgv.length);
    await expectOk(url, response.status, 'new transcode');
    firstByte.push(response.firstByteMs);
    total.push(response.totalMs);
    await ctx.settle();
    const raw = await runStreamed('ffmpeg', args, out);
    reference.push(raw.ms);
    referenceFirstByte.push(raw.firstByteMs);
    if (rep === 1) {
      settings = sameSettings(proxyArgv[0], args, ctx.media.big);
      sizes = `proxy output ${formatBytes(response.bytes)} (X-Cache ${response.headers['x-cache']}), raw ffmpeg output ${formatBytes(raw.bytes)}`;
    }
  }
  ctx.details.push(
    `3: ${sizes}; reference (stdout written to a file), ${settings}: \`ffmpeg ${args.join(' ')}\`.`,
  );
  const ratio = median(total) / median(reference);
  return [
    {
      scenario: '3 new 360p transcode',
      metric: 'time to first byte (new source)',
      proxy: formatMs(median(firstByte)),
      reference: `${formatMs(median(referenceFirstByte))} (raw ffmpeg's first stdout byte)`,
      ratio: formatMs(median(firstByte)),
      bar: '<= 1.5 s',
      pass: median(firstByte) <= 1500,
    },
    {
      scenario: '3 new 360p transcode',
      metric: 'total time of the 60 s 1080p source',
      proxy: formatMs(median(total)),
      reference: `${formatMs(median(reference))} (same argv, local file)`,
      ratio: ratioText(ratio),
      bar: '<= 1.1x',
      pass: ratio <= 1.1,
    },
  ];
}

/** The URLs of an HLS rendition's first segment, read from the playlists the proxy wrote. */
async function firstSegmentUrl(masterUrl: string, masterText: string, height: number): Promise<string> {
  const uris = masterText.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('#'));
  const variant = uris.find((uri) => uri.includes(`/${height}/`) || uri.includes(`${height}`)) ?? uris[0];
  if (!variant) throw new Error('the master playlist lists no variant');
  const variantUrl = new URL(variant.trim(), masterUrl).href;
  const playlist = await timedGet(variantUrl, { keepBody: true });
  await expectOk(variantUrl, playlist.status, 'media playlist');
  const segment = playlist
    .body!.toString('utf8')
    .split('\n')
    .find((line) => line.trim() !== '' && !line.startsWith('#'));
  if (!segment) throw new Error('the media playlist lists no segment');
  return new URL(segment.trim(), variantUrl).href;
}

interface SegmentTiming {
  masterMs: number;
  segmentMs: number;
  /** From the master request to the end of segment 0 (master, media playlist, segment). */
  startupMs: number;
  /** ffmpeg argv the proxy ran for the segment. */
  segmentArgv: string[];
  /** Wall milliseconds of each ffmpeg the segment ran, and the origin traffic of the segment request. */
  segmentFfmpegMs: number[];
  segmentOrigin: { requests: number; bytes: number };
  /** What the proxy's child processes did for the master playlist. */
  masterRuns: string;
}

async function timeFirstSegment(
  ctx: BenchContext,
  key: string,
  height: number,
): Promise<SegmentTiming | { status: number }> {
  const masterUrl = `${ctx.proxy.url}/${key}/ik-master.m3u8?tr=sr-${height}`;
  await ctx.settle();
  const before = await ctx.processRuns();
  const started = performance.now();
  const master = await timedGet(masterUrl, { keepBody: true });
  if (master.status !== 200) return { status: master.status };
  const masterRuns = newRuns(before, await ctx.processRuns());
  const segmentUrl = await firstSegmentUrl(masterUrl, master.body!.toString('utf8'), height);
  const beforeSegment = await ctx.processRuns();
  ctx.counter.reset();
  const segment = await timedGet(segmentUrl);
  const { requests, bytes } = ctx.counter.counts();
  await expectOk(segmentUrl, segment.status, 'first segment');
  if (segment.bytes === 0) throw new Error(`${segmentUrl} is empty`);
  const startupMs = performance.now() - started;
  const afterSegment = await ctx.processRuns();
  return {
    masterMs: master.totalMs,
    segmentMs: segment.totalMs,
    startupMs,
    segmentArgv: afterSegment.ffmpegArgv.slice(beforeSegment.ffmpegArgv.length),
    segmentFfmpegMs: afterSegment.ffmpegMs.slice(beforeSegment.ffmpegMs.length),
    segmentOrigin: { requests, bytes },
    masterRuns,
  };
}

/** 4. First HLS segment (720p, 4 s) and the cold master playlist; 10-minute vs 10-second source. */
export async function firstHlsSegment(ctx: BenchContext): Promise<Row[]> {
  const scenario = '4 first HLS segment';
  const master: number[] = [];
  const segment: number[] = [];
  const reference: number[] = [];
  const longMaster: number[] = [];
  const longSegment: number[] = [];
  const shortSegment: number[] = [];
  const probeMs: number[] = [];
  const startup: number[] = [];
  let masterRuns = '';
  let segmentRuns = '';
  let firstSegment: SegmentTiming | undefined;
  const lengthDetails: string[] = [];
  const out = path.join(ctx.work, 'ref-seg.mp4');
  const ref = await segmentReferenceArgs(ctx.repoRoot, ctx.media.big, 720, 0, 4, out);
  const longRef = await segmentReferenceArgs(ctx.repoRoot, ctx.media.long, 360, 0, 4, out);
  const shortRef = await segmentReferenceArgs(ctx.repoRoot, ctx.media.short, 360, 0, 4, out);
  const longRaw: number[] = [];
  const shortRaw: number[] = [];
  for (let rep = 1; rep <= REPS.segment; rep++) {
    const timing = await timeFirstSegment(ctx, await ctx.freshCopy('big', `s4-${rep}`), 720);
    if ('status' in timing) {
      const why = `/ik-master.m3u8 answered ${timing.status}`;
      ctx.details.push(`4: not measured: ${why}.`);
      return [unavailable(scenario, 'master playlist, segment 0', why)];
    }
    master.push(timing.masterMs);
    segment.push(timing.segmentMs);
    startup.push(timing.startupMs);
    if (rep === 1) {
      masterRuns = timing.masterRuns;
      firstSegment = timing;
      const video = timing.segmentArgv.find((argv) => argv.includes('-frames:v 120'));
      segmentRuns = `${timing.segmentArgv.length} ffmpeg run(s) for segment 0; the reference argv is ${sameSettings(video, ref.args, ctx.media.big)}`;
    }
    await ctx.settle();
    probeMs.push((await mustRun('ffprobe', probeReferenceArgs(ctx.media.big))).ms);
    reference.push((await mustRun('ffmpeg', ref.args)).ms);
    const long = await timeFirstSegment(ctx, await ctx.freshCopy('long', `s4-${rep}`), 360);
    const short = await timeFirstSegment(ctx, await ctx.freshCopy('short', `s4-${rep}`), 360);
    if ('status' in long || 'status' in short)
      throw new Error('sr-360 master playlist failed on the 360p sources');
    await ctx.settle();
    longRaw.push((await mustRun('ffmpeg', longRef.args)).ms);
    shortRaw.push((await mustRun('ffmpeg', shortRef.args)).ms);
    longMaster.push(long.masterMs);
    longSegment.push(long.segmentMs);
    shortSegment.push(short.segmentMs);
    const describe = (what: string, t: SegmentTiming) =>
      `${what} ${formatMs(t.segmentMs)} (ffmpeg ${t.segmentFfmpegMs.map(formatMs).join(' + ')}; origin ${t.segmentOrigin.requests} req, ${formatBytes(t.segmentOrigin.bytes)})`;
    lengthDetails.push(`${describe('10-min', long)} vs ${describe('10-s', short)}`);
  }
  ctx.details.push(`4: child processes during one cold master playlist: ${masterRuns}; ${segmentRuns}.`);
  if (firstSegment) {
    ctx.details.push(
      `4: first 720p segment request ${formatMs(firstSegment.segmentMs)}: its ffmpeg ran ${firstSegment.segmentFfmpegMs.map(formatMs).join(' + ')} ` +
        `(raw ffmpeg on the local file: ${formatMs(reference[0] ?? Number.NaN)}); origin ${firstSegment.segmentOrigin.requests} requests, ${formatBytes(firstSegment.segmentOrigin.bytes)}.`,
    );
  }
  ctx.details.push(`4: segment 0 at 360p, per repetition: ${lengthDetails.join('; ')}.`);
  ctx.details.push(
    `4: segment reference argv (${ref.source === 'product' ? "built by the product's planAbs + absVideoSegmentArgs" : 'hand-built'}): \`ffmpeg ${ref.args.join(' ')}\`.`,
  );
  const segmentRatio = median(segment) / median(reference);
  const lengthRatio = median(longSegment) / median(shortSegment);
  return [
    {
      scenario,
      metric: 'master playlist, cold (stat + probe), 1080p 60 s',
      proxy: formatMs(median(master)),
      reference: `${formatMs(median(probeMs))} (ffprobe alone, local file)`,
      ratio: formatMs(median(master)),
      bar: '< 0.5 s',
      pass: median(master) < 500,
    },
    {
      scenario,
      metric: 'master playlist, cold, 10-minute source',
      proxy: formatMs(median(longMaster)),
      reference: '-',
      ratio: formatMs(median(longMaster)),
      bar: '< 0.5 s',
      pass: median(longMaster) < 500,
    },
    {
      scenario,
      metric: 'segment 0 of 720p (4 s)',
      proxy: formatMs(median(segment)),
      reference: `${formatMs(median(reference))} (raw ffmpeg, that segment)`,
      ratio: ratioText(segmentRatio),
      bar: '<= 1.3x',
      pass: segmentRatio <= 1.3,
    },
    {
      scenario,
      metric: 'cold start: master + media playlist + segment 0',
      proxy: formatMs(median(startup)),
      reference: `${formatMs(median(probeMs) + median(reference))} (ffprobe + segment, raw)`,
      ratio: ratioText(median(startup) / (median(probeMs) + median(reference))),
      bar: '(info)',
      pass: undefined,
    },
    {
      scenario,
      metric: 'segment 0 of 360p: 10-min source vs 10-s source',
      proxy: formatMs(median(longSegment)),
      reference: `${formatMs(median(shortSegment))} (10-s source)`,
      ratio: ratioText(lengthRatio),
      bar: '<= 1.1x',
      pass: lengthRatio <= 1.1,
    },
    {
      scenario,
      metric: 'the same with raw ffmpeg on local files',
      proxy: formatMs(median(longRaw)),
      reference: `${formatMs(median(shortRaw))} (10-s source)`,
      ratio: ratioText(median(longRaw) / median(shortRaw)),
      bar: '(info)',
      pass: undefined,
    },
  ];
}

interface BurstOutcome {
  statuses: string;
  identical: boolean;
  ffmpeg: number;
  ffprobe: number;
  originRequests: number;
  originBytes: number;
  ms: number;
}

async function burst(ctx: BenchContext, urls: string[]): Promise<BurstOutcome> {
  await ctx.settle();
  const before = await ctx.processRuns();
  ctx.counter.reset();
  const started = performance.now();
  const responses = await Promise.all(
    urls.map((url) => timedGet(url, { keepBody: true, timeoutMs: 120_000 })),
  );
  const ms = performance.now() - started;
  // Runs that finished: a standby ffmpeg (FFMPEG_STANDBY) was started before the burst and its
  // replacement after it, so starts would count 0 or 2 for one job; each job ends exactly once.
  await ctx.settle();
  const after = await ctx.processRuns();
  const origin = ctx.counter.counts();
  const statusCounts = new Map<number, number>();
  for (const response of responses)
    statusCounts.set(response.status, (statusCounts.get(response.status) ?? 0) + 1);
  const hashes = new Set(responses.map((response) => sha(response.body)));
  return {
    statuses: [...statusCounts].map(([status, count]) => `${count}x${status}`).join(' '),
    identical: hashes.size === 1,
    ffmpeg: after.ffmpegMs.length - before.ffmpegMs.length,
    ffprobe: after.ffprobe - before.ffprobe,
    originRequests: origin.requests,
    originBytes: origin.bytes,
    ms,
  };
}

/** 5. 50 identical cold requests at once: one ffmpeg job and one set of origin reads. */
export async function identicalBurst(ctx: BenchContext): Promise<Row[]> {
  const rows: Row[] = [];
  const cases = [
    { name: 'thumbnail', path: (key: string) => `/${key}/ik-thumbnail.jpg?tr=so-7,w-300` },
    { name: 'short transform', path: (key: string) => `/${key}?tr=so-2,du-2,w-320` },
  ];
  for (const item of cases) {
    const single = await burst(ctx, [
      `${ctx.proxy.url}${item.path(await ctx.freshCopy('big', `s5-one-${item.name}`))}`,
    ]);
    const key = await ctx.freshCopy('big', `s5-many-${item.name}`);
    const many = await burst(
      ctx,
      Array.from({ length: 50 }, () => `${ctx.proxy.url}${item.path(key)}`),
    );
    ctx.details.push(
      `5 (${item.name}): 50 at once -> ${many.statuses}, bodies identical: ${many.identical}, ${many.ffmpeg} ffmpeg + ${many.ffprobe} ffprobe, ` +
        `${many.originRequests} origin requests / ${formatBytes(many.originBytes)} in ${formatMs(many.ms)}; ` +
        `one request alone -> ${single.ffmpeg} ffmpeg + ${single.ffprobe} ffprobe, ${single.originRequests} origin requests / ${formatBytes(single.originBytes)}.`,
    );
    const allOk = /^50x200$/.test(many.statuses) && many.identical;
    rows.push({
      scenario: '5 50 identical cold',
      metric: `${item.name}: ffmpeg processes`,
      proxy: `${many.ffmpeg} ffmpeg, ${many.ffprobe} ffprobe (${many.statuses})`,
      reference: `${single.ffmpeg} ffmpeg, ${single.ffprobe} ffprobe (1 request)`,
      ratio: String(many.ffmpeg),
      bar: '1 ffmpeg job',
      pass: many.ffmpeg === 1 && allOk,
    });
    // Requests, not bytes, decide "one set of reads": the bytes of an open-ended origin read
    // depend on how far it ran before ffmpeg closed it (see scenario 1), which varies run to run.
    rows.push({
      scenario: '5 50 identical cold',
      metric: `${item.name}: origin reads`,
      proxy: `${many.originRequests} req, ${formatBytes(many.originBytes)}`,
      reference: `${single.originRequests} req, ${formatBytes(single.originBytes)} (1 request)`,
      ratio: `${many.originRequests} req, ${ratioText(many.originBytes / single.originBytes)} bytes`,
      bar: "1 set (requests <= 1 request's)",
      pass: many.originRequests <= single.originRequests,
    });
  }
  return rows;
}

/** 6. Peak RSS of a fresh proxy process while it transcodes the ~1 GB source to 360p. */
export async function memoryWhileTranscodingHuge(ctx: BenchContext, capMs: number): Promise<Row[]> {
  const size = (await stat(ctx.media.huge)).size;
  const proxy = await ctx.startExtraProxy('rss');
  let peakRssKb = 0;
  let peakFfmpegKb = 0;
  const sampler = setInterval(() => {
    void proxy.memory().then((memory) => {
      if (memory) peakRssKb = Math.max(peakRssKb, memory.rssKb);
    });
    void proxy.mediaPids().then(async (pids) => {
      for (const pid of pids) {
        const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
        const rss = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
        peakFfmpegKb = Math.max(peakFfmpegKb, rss);
      }
    });
  }, 100);
  let outcome = '';
  let hwmKb = 0;
  try {
    const idle = await proxy.memory();
    ctx.counter.reset();
    const url = `${proxy.url}/${ctx.keys.huge}?tr=h-360`;
    const response = await Promise.race([
      timedGet(url, { timeoutMs: capMs }),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('cap')), capMs)),
    ]).catch((error: Error) => error);
    const origin = ctx.counter.counts();
    hwmKb = (await proxy.memory())?.hwmKb ?? 0;
    outcome =
      response instanceof Error
        ? `stopped at the ${capMs / 1000} s cap after the origin delivered ${formatBytes(origin.bytes)} of ${formatBytes(size)}`
        : `${response.status}, ${formatBytes(response.bytes)} out in ${formatMs(response.totalMs)}, origin delivered ${formatBytes(origin.bytes)} of ${formatBytes(size)} in ${origin.requests} requests`;
    ctx.details.push(
      `6: fresh proxy process, idle RSS ${formatBytes((idle?.rssKb ?? 0) * 1024)}; /huge.mp4?tr=h-360 ${outcome}; ` +
        `sampled peak RSS ${formatBytes(peakRssKb * 1024)}, VmHWM ${formatBytes(hwmKb * 1024)}; largest ffmpeg/ffprobe process peak RSS ${formatBytes(peakFfmpegKb * 1024)} (not counted in the bar).`,
    );
  } finally {
    clearInterval(sampler);
    await proxy.close();
  }
  const peakMb = Math.max(hwmKb, peakRssKb) / 1024;
  return [
    {
      scenario: '6 memory, 1 GB source',
      metric: `peak RSS of the proxy process (source ${formatBytes(size)})`,
      proxy: `${peakMb.toFixed(0)} MB`,
      reference: '-',
      ratio: `${peakMb.toFixed(0)} MB`,
      bar: '<= 300 MB',
      pass: peakMb <= 300,
    },
  ];
}

/** 7. A ~40 MB cached output served with random 1 MiB ranges vs nginx sendfile on the same bytes. */
export async function rangeThroughput(ctx: BenchContext): Promise<Row[]> {
  const url = `${ctx.proxy.url}/${ctx.keys.grain}?tr=q-100`;
  const made = await timedGet(url, { timeoutMs: 240_000 });
  await expectOk(url, made.status, 'large output');
  const cached = await timedGet(url, { keepBody: true });
  const root = path.join(ctx.work, 'nginx-root');
  await mkdir(root, { recursive: true });
  await writeFile(path.join(root, 'out.mp4'), cached.body!);
  const size = cached.bytes;
  const chunk = 1024 * 1024;
  const probe = await timedGet(url, { headers: { Range: `bytes=1000-${1000 + chunk - 1}` } });
  if (probe.status !== 206 || probe.bytes !== chunk)
    throw new Error(`a 1 MiB Range answered ${probe.status} with ${probe.bytes} bytes`);
  const tier = String(probe.headers['x-cache'] ?? '');
  const script = path.join(ctx.work, 'range.lua');
  await writeRangeScript(script, size, chunk);
  const nginx = await startNginx(root, path.join(ctx.work, 'nginx'), 'auto');
  const nginxOne = await startNginx(root, path.join(ctx.work, 'nginx-1'), 1);
  const proxyRuns = [];
  const nginxRuns = [];
  const nginxOneRuns = [];
  try {
    for (const server of [nginx, nginxOne]) {
      const check = await timedGet(`${server.url}/out.mp4`, {
        headers: { Range: `bytes=1000-${1000 + chunk - 1}` },
      });
      if (check.status !== 206) throw new Error(`nginx answered ${check.status} to a Range request`);
    }
    const load = (target: string) =>
      runWrk({ url: target, connections: 8, threads: 2, seconds: WRK_SECONDS, script });
    await ctx.settle();
    for (let rep = 0; rep < REPS.range; rep++) {
      proxyRuns.push(await load(url));
      nginxRuns.push(await load(`${nginx.url}/out.mp4`));
      nginxOneRuns.push(await load(`${nginxOne.url}/out.mp4`));
    }
  } finally {
    await nginx.close();
    await nginxOne.close();
    await rm(root, { recursive: true, force: true });
  }
  const bad = proxyRuns.reduce((sum, run) => sum + run.non2xx + run.socketErrors, 0);
  ctx.details.push(
    `7: output of /grain.mp4?tr=q-100: ${formatBytes(size)}, made in ${formatMs(made.totalMs)}, served as X-Cache ${tier}; random 1 MiB ranges, wrk -c8 -t2 -d${WRK_SECONDS}s, ${REPS.range} runs each; nginx worker_processes auto (= ${os.availableParallelism()}) and 1, sendfile on; proxy non-2xx + socket errors: ${bad}.`,
  );
  const proxyBps = median(proxyRuns.map((run) => run.bytesPerSecond));
  const nginxBps = median(nginxRuns.map((run) => run.bytesPerSecond));
  const nginxOneBps = median(nginxOneRuns.map((run) => run.bytesPerSecond));
  const mb = (bps: number) => `${(bps / 1024 / 1024).toFixed(0)} MiB/s`;
  return [
    {
      scenario: '7 Range on a cached file',
      metric: `random 1 MiB ranges of a ${formatBytes(size)} output`,
      proxy: `${mb(proxyBps)}, p99 ${median(proxyRuns.map((r) => r.p99Ms)).toFixed(1)} ms`,
      reference: `${mb(nginxBps)}, p99 ${median(nginxRuns.map((r) => r.p99Ms)).toFixed(1)} ms (nginx sendfile)`,
      ratio: ratioText(proxyBps / nginxBps),
      bar: '>= 0.5x',
      pass: proxyBps / nginxBps >= 0.5 && bad === 0,
    },
    {
      scenario: '7 Range on a cached file',
      metric: 'the same vs nginx with one worker process',
      proxy: mb(proxyBps),
      reference: `${mb(nginxOneBps)}, p99 ${median(nginxOneRuns.map((r) => r.p99Ms)).toFixed(1)} ms (nginx, 1 worker)`,
      ratio: ratioText(proxyBps / nginxOneBps),
      bar: '(info)',
      pass: undefined,
    },
  ];
}
