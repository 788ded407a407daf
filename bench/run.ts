/**
 * `npm run bench`: generates the media (cached in bench/.media), starts s3rver behind a
 * byte-counting pass-through and the proxy as a child process, runs every scenario next to its
 * reference in the same run, prints the table and rewrites docs/benchmarks.md.
 *
 * `npm run bench -- --only 1,2` runs a subset (docs/benchmarks.md is then left alone);
 * `npm run bench -- --help` prints the usage and the method without running anything.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CopyObjectCommand } from '@aws-sdk/client-s3';
import { createFfmpegSpy, type FfmpegSpy } from '../test/support/ffmpeg-spy.js';
import { startTestS3 } from '../test/support/s3.js';
import { LAYERS_SCENARIO, LOGO_KEY, makeLogo, watermarked } from './layers.js';
import { LIVE_SCENARIO, liveRealTime } from './live.js';
import { ensureMedia } from './media.js';
import { startOriginCounter } from './origin-counter.js';
import { benchmarksDocument, type MachineInfo, markdownTable, type Row } from './report.js';
import {
  type BenchContext,
  cachedThumbnail,
  coldThumbnail,
  firstHlsSegment,
  identicalBurst,
  memoryWhileTranscodingHuge,
  newTranscode,
  REPS,
  rangeThroughput,
  type SourceName,
} from './scenarios.js';
import { type ProxyChild, startProxyChild } from './servers.js';
import { UPLOAD_SCENARIO, uploadIntoS3 } from './upload.js';
import { runCommand, sleep } from './util.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MEDIA_DIR = path.join(REPO_ROOT, 'bench/.media');
const DOC = path.join(REPO_ROOT, 'docs/benchmarks.md');
const BUCKET = 'bench';
/** The 1 GB transcode is stopped here so the whole bench stays near 10 minutes. */
const HUGE_TRANSCODE_CAP_MS = 240_000;
/** Longer than the still decoder's refill delay (100 ms) plus a spawn. */
const STANDBY_REFILL_WAIT_MS = 300;
/** Longest wait for the proxy's background jobs (a segment prefetch) before measuring anyway. */
const SETTLE_LIMIT_MS = 30_000;

const METHOD = `\`npm run bench\` (bench/run.ts) generates its sources once into bench/.media (ffmpeg lavfi
test patterns with a sine track: 1080p 60 s H.264/AAC at ~4 Mb/s with a 2 s GOP; 640x360 10 min and 10 s;
a ~1 GB 1080p ~40 Mb/s file made of one noisy clip joined with \`-c copy\`; a 6 s 480p film-grain clip whose
q-100 transcode is the large cached output), uploads them to s3rver on 127.0.0.1 and starts the proxy as a
child process (\`node --import tsx src/index.ts\`, default settings, LOG_LEVEL=warn) with S3_ENDPOINT
pointing at a byte-counting pass-through in front of s3rver, so origin requests and bytes are counted
outside the product. FFMPEG_PATH/FFPROBE_PATH are wrapper scripts that log each start (with its argv,
which the bench compares with the reference's) and its wall time, and run the real binaries. "Cold" means a new object key (an S3 copy of the source) per repetition: the proxy has never
stat-ed, probed or rendered it.

1. Cold thumbnail \`/<new key>/ik-thumbnail.jpg?tr=so-30,w-300\` (${REPS.thumbnail} reps) vs
   \`ffmpeg -ss 30 -i local.mp4 -frames:v 1 -f image2 out.jpg\`; origin bytes of that request / object size.
   "Known source" asks the same key for so-30.N (stat and probe cached, a new frame job). The proxy runs
   with its default FFMPEG_STANDBY=2: its ffmpeg for a still was started before the request, while the
   reference pays its own start (about 0.1 s here); scenario 1's details say what each part cost.
2. The thumbnail from 1, cached, under \`wrk -c32 -t2 -d5s --latency\` vs two bare Hono apps
   (@hono/node-server, bench/hono-ref.ts, each its own process) returning the same bytes from memory:
   one with Hono's minimal headers (Content-Type), one with the headers of the proxy's hit (copied
   from it, a new X-Request-Id per answer). Server CPU per request is user + system time from /proc.
3. \`/<new key>?tr=h-360\` streamed: first body byte and last byte vs raw ffmpeg running the argv the
   product builds (planVideo + videoArgs) on the local file, writing fragmented MP4 to a file.
4. \`/<new key>/ik-master.m3u8?tr=sr-720\` (cold: stat + probe + playlist), then the first segment listed
   by the 720p media playlist, vs raw ffmpeg encoding that 4 s at 720p with the product's ABS argv; the
   same first segment at sr-360 for the 10-minute source vs the 10-second one.
5. 50 identical requests at once on a new key (a thumbnail; a 2 s transform), counting ffmpeg runs that
   finished (a standby started before the burst counts once, when it does the job) and ffprobe starts,
   and origin requests/bytes, compared with one request alone on another new key.
6. A second, fresh proxy process transcodes the ~1 GB source to h-360 while its VmRSS is sampled every
   100 ms; VmHWM at the end. Capped at ${HUGE_TRANSCODE_CAP_MS / 1000} s.
7. The grain clip's q-100 output (cached on disk after one request) under wrk with random 1 MiB
   \`Range\` requests (-c8 -t2 -d5s, same seeded sequence) vs nginx (sendfile on; worker_processes auto,
   and 1 for an informational row) serving a byte-identical copy.
8. Live (bench/live.ts): a 720p30 source published in real time over RTMP (\`ffmpeg -re -c copy\`) for
   60 s to its own proxy process with LIVE_SR=240_360; the transcoder's steady speed (frames per second
   after the first 10 s / 30) and CPU (cores, /proc), the playlist's end after the unpublish, and the
   same argv unthrottled on the file (headroom). \`--only 8\` needs no S3 and no other media.
9. Upload (bench/upload.ts): a BENCH_UPLOAD_MB (1024) MiB MP4 (sample.mp4 padded with a \`free\` box)
   posted to \`/api/v1/files/upload\` by curl vs the AWS SDK's own multipart \`Upload\` (5 MiB parts, 4 at
   once, its own process) into the same s3rver, alternating, 3 reps; the proxy's VmRSS sampled every
   100 ms (VmHWM). \`--only 9\` needs no other media.
10. A watermark (\`l-image\` from the bucket, bottom right, alpha): \`/<new key>?tr=h-360,l-image,...\` in
   full and the first 720p segment of \`l-image,...:sr-720\`, each vs raw ffmpeg running the argv the
   product builds for it (the layer graph included) on local files.

Repetitions of a scenario alternate proxy and reference so drift on the host hits both, and each
measurement starts only once the proxy runs no ffmpeg/ffprobe (e.g. the segment N+1 prefetch it starts
after serving segment N), so neither side shares the CPUs with the other's leftovers.
Every server binds 127.0.0.1 and every load is bounded in time. On a shared 2-core host a ratio within
about 10% of its bar can land on either side from one run to the next; compare several runs before
acting on such a row.`;

function parseOnly(argv: readonly string[]): Set<number> | undefined {
  const index = argv.indexOf('--only');
  if (index < 0) return undefined;
  return new Set((argv[index + 1] ?? '').split(',').map(Number));
}

async function machineInfo(startedAt: Date, loadAtStart: string, seconds: number): Promise<MachineInfo> {
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  const ffmpeg = await runCommand('ffmpeg', ['-hide_banner', '-version']).catch(() => undefined);
  return {
    date: startedAt.toISOString(),
    cpus: os.availableParallelism(),
    cpuModel: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown',
    memory: `${(os.totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    node: process.version,
    ffmpeg: ffmpeg?.stdout.split('\n')[0]?.replace(/ Copyright.*/, '') ?? 'ffmpeg (unknown)',
    loadAtStart,
    loadAtEnd: os
      .loadavg()
      .map((n) => n.toFixed(2))
      .join(' / '),
    durationSeconds: seconds,
  };
}

/** Starts (with their arguments) and finished runs (wall milliseconds, in finishing order) a spy has seen. */
async function readRuns(spy: FfmpegSpy): Promise<{ starts: number; argv: string[]; finishedMs: number[] }> {
  const runs = await spy.runs();
  const finishedMs = runs
    .filter((run) => run.endedNs !== undefined)
    .sort((a, b) => (a.endedNs! < b.endedNs! ? -1 : a.endedNs! > b.endedNs! ? 1 : 0))
    .map((run) => run.ms!);
  return { starts: runs.length, argv: runs.map((run) => run.argv), finishedMs };
}

const USAGE = `npm run bench [-- --only 1,2,...]

Generates the sources (once, into bench/.media), starts s3rver, a byte counter and the proxy, runs
the scenarios below next to their references and prints the table; a full run (no --only) also
rewrites docs/benchmarks.md. About 10 minutes on 2 cores.

  --only N,M   run only these scenarios (docs/benchmarks.md is left alone)
  --help, -h   print this and exit (nothing is generated or started)

${METHOD}
`;

async function main(): Promise<void> {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    process.stdout.write(USAGE);
    return;
  }
  const only = parseOnly(process.argv.slice(2));
  const wanted = (n: number) => !only || only.has(n);
  const startedAt = new Date();
  const loadAtStart = os
    .loadavg()
    .map((n) => n.toFixed(2))
    .join(' / ');
  const log = (line: string) => process.stdout.write(`${line}\n`);
  log(`ik-video-proxy bench: ${os.availableParallelism()} CPUs, load ${loadAtStart}`);
  if (only && [...only].every((n) => n === UPLOAD_SCENARIO)) {
    // The upload scenario brings its own file, s3rver and proxy.
    const work = await mkdtemp(path.join(os.tmpdir(), 'ikvp-bench-upload-'));
    const details: string[] = [];
    const rows = await uploadIntoS3({ repoRoot: REPO_ROOT, work, log, details });
    log(markdownTable(rows));
    for (const line of details) log(`- ${line}`);
    await rm(work, { recursive: true, force: true });
    return;
  }
  if (only && [...only].every((n) => n === LIVE_SCENARIO)) {
    // The live scenario brings its own source and proxy: no S3, no 1 GB file to generate.
    const work = await mkdtemp(path.join(os.tmpdir(), 'ikvp-bench-live-'));
    const details: string[] = [];
    const rows = await liveRealTime({ repoRoot: REPO_ROOT, mediaDir: MEDIA_DIR, work, log, details });
    log(markdownTable(rows));
    for (const line of details) log(`- ${line}`);
    await rm(work, { recursive: true, force: true });
    return;
  }

  log('media:');
  const media = await ensureMedia(MEDIA_DIR, log);
  const work = await mkdtemp(path.join(os.tmpdir(), 'ikvp-bench-'));
  const s3 = await startTestS3();
  const counter = await startOriginCounter(s3.endpoint);
  const proxies: ProxyChild[] = [];
  const rows: Row[] = [];
  const details: string[] = [];
  let failed = false;
  try {
    await s3.createBucket(BUCKET);
    const keys = {} as Record<SourceName, string>;
    log('uploading sources to s3rver ...');
    for (const name of Object.keys(media) as SourceName[]) {
      if (name === 'huge' && !wanted(6)) continue;
      keys[name] = path.basename(media[name]);
      await s3.putObject(BUCKET, keys[name], await readFile(media[name]), 'video/mp4');
    }
    const logo = wanted(LAYERS_SCENARIO) ? await makeLogo(work) : undefined;
    if (logo) await s3.putObject(BUCKET, LOGO_KEY, logo.bytes, 'image/png');
    // Timed spies (in `work`, kept with the other logs when a scenario fails) log each start and exit.
    const ffmpegSpy = await createFfmpegSpy({ real: 'ffmpeg', timed: true, parent: work });
    const ffprobeSpy = await createFfmpegSpy({ real: 'ffprobe', timed: true, parent: work });
    const proxyEnv = (cacheDir: string): Record<string, string> => ({
      ...s3.env,
      ORIGIN: `s3://${BUCKET}`,
      S3_ENDPOINT: counter.url,
      S3_FORCE_PATH_STYLE: 'true',
      CACHE_DIR: cacheDir,
      LOG_LEVEL: 'warn',
      // The product's default (the test harness turns it off).
      FFMPEG_STANDBY: '2',
      FFMPEG_PATH: ffmpegSpy.path,
      FFPROBE_PATH: ffprobeSpy.path,
    });
    const proxyLog = path.join(work, 'proxy.log');
    const proxy = await startProxyChild(REPO_ROOT, proxyEnv(path.join(work, 'cache')), proxyLog);
    proxies.push(proxy);
    let copies = 0;
    const ctx: BenchContext = {
      repoRoot: REPO_ROOT,
      work,
      media,
      proxy,
      counter,
      keys,
      async freshCopy(source, tag) {
        const key = `${tag}-${++copies}-${keys[source]}`;
        await s3.client.send(
          new CopyObjectCommand({ Bucket: BUCKET, Key: key, CopySource: `${BUCKET}/${keys[source]}` }),
        );
        return key;
      },
      async processRuns() {
        const [ffmpeg, ffprobe] = [await readRuns(ffmpegSpy), await readRuns(ffprobeSpy)];
        return {
          ffmpeg: ffmpeg.starts,
          ffprobe: ffprobe.starts,
          ffmpegArgv: ffmpeg.argv,
          ffmpegMs: ffmpeg.finishedMs,
          ffprobeMs: ffprobe.finishedMs,
        };
      },
      async settle() {
        // A used standby ffmpeg is replaced about 0.1 s after the last still (FFMPEG_STANDBY):
        // let that start happen now, not inside the next measurement.
        await sleep(STANDBY_REFILL_WAIT_MS);
        const deadline = Date.now() + SETTLE_LIMIT_MS;
        while ((await proxy.busyMediaPids()).length > 0 && Date.now() < deadline) await sleep(50);
      },
      async startExtraProxy(tag) {
        const extra = await startProxyChild(
          REPO_ROOT,
          proxyEnv(path.join(work, `cache-${tag}`)),
          path.join(work, `proxy-${tag}.log`),
        );
        proxies.push(extra);
        return extra;
      },
      log,
      details,
    };

    const run = async (n: number, name: string, scenario: () => Promise<Row[]>) => {
      if (!wanted(n)) return;
      const started = performance.now();
      log(`scenario ${n}: ${name} ...`);
      try {
        const produced = await scenario();
        rows.push(...produced);
        for (const row of produced)
          log(`  ${row.metric}: ${row.proxy} vs ${row.reference} -> ${row.ratio} (bar ${row.bar})`);
      } catch (error) {
        failed = true;
        const message = (error as Error).message.split('\n')[0] ?? String(error);
        rows.push({
          scenario: `${n} ${name}`,
          metric: 'error',
          proxy: message,
          reference: '-',
          ratio: '-',
          bar: '-',
          pass: false,
        });
        log(`  failed: ${(error as Error).stack ?? error}`);
      }
      log(`  (${((performance.now() - started) / 1000).toFixed(0)} s)`);
    };

    let cachedThumbnailUrl = '';
    await run(1, 'cold thumbnail', async () => {
      const result = await coldThumbnail(ctx);
      cachedThumbnailUrl = result.cachedUrl;
      return result.rows;
    });
    await run(2, 'cached thumbnail', async () => {
      if (!cachedThumbnailUrl) {
        const key = await ctx.freshCopy('big', 's2');
        cachedThumbnailUrl = `${proxy.url}/${key}/ik-thumbnail.jpg?tr=so-30,w-300`;
      }
      return cachedThumbnail(ctx, cachedThumbnailUrl);
    });
    await run(3, 'new 360p transcode', () => newTranscode(ctx));
    await run(4, 'first HLS segment', () => firstHlsSegment(ctx));
    await run(5, '50 identical cold', () => identicalBurst(ctx));
    await run(7, 'Range on a cached file', () => rangeThroughput(ctx));
    await run(6, 'memory, 1 GB source', () => memoryWhileTranscodingHuge(ctx, HUGE_TRANSCODE_CAP_MS));
    await run(UPLOAD_SCENARIO, 'upload into S3', () =>
      uploadIntoS3({ repoRoot: REPO_ROOT, work, log, details }),
    );
    await run(LAYERS_SCENARIO, 'watermarked transcode and segment', () => watermarked(ctx, logo!.file));
    await run(LIVE_SCENARIO, 'live 720p30 -> 240/360', () =>
      liveRealTime({ repoRoot: REPO_ROOT, mediaDir: MEDIA_DIR, work, log, details }),
    );
  } finally {
    for (const proxy of proxies) await proxy.close();
    await counter.close();
    await s3.close();
  }

  rows.sort((a, b) => Number.parseInt(a.scenario, 10) - Number.parseInt(b.scenario, 10));
  const seconds = (Date.now() - startedAt.getTime()) / 1000;
  const machine = await machineInfo(startedAt, loadAtStart, seconds);
  log('');
  log(markdownTable(rows));
  log('');
  for (const line of details) log(`- ${line}`);
  if (!only) {
    await writeFile(DOC, benchmarksDocument(machine, rows, details, METHOD));
    log(`\nwrote ${path.relative(REPO_ROOT, DOC)} (${Math.round(seconds)} s)`);
  }
  if (failed) {
    log(`\nsome scenarios failed; logs kept in ${work}`);
    process.exitCode = 1;
  } else {
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((error) => {
  process.stderr.write(`bench failed: ${(error as Error).stack ?? error}\n`);
  process.exit(1);
});
