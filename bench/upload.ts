/**
 * Scenario 9, upload into S3: the same large file uploaded (a) through the proxy's
 * `POST /api/v1/files/upload` by curl and (b) by the AWS SDK's own multipart `Upload`
 * (@aws-sdk/lib-storage with its defaults, 5 MiB parts, 4 at once, as the proxy uses it) in a child process, both
 * into s3rver on 127.0.0.1, alternating, 3 reps each. The proxy's time includes what makes an
 * upload safe: staging, the probe before it is visible, the commit (S3 CopyObject) and its record.
 * The proxy's VmRSS is sampled every 100 ms during its uploads (VmHWM at the end).
 *
 * The file is `fixtures/sample.mp4` (moov first) followed by a `free` box that pads it to
 * BENCH_UPLOAD_MB (default 1024): a valid MP4 of any size, made in seconds.
 *
 * Run alone: `npm run bench -- --only 9` (needs no other media).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { fixturePath } from '../test/support/fixtures.js';
import { startTestS3 } from '../test/support/s3.js';
import type { Row } from './report.js';
import { processMemory, startProxyChild } from './servers.js';
import { median } from './util.js';

export const UPLOAD_SCENARIO = 9;
const REPS = 3;
const KEY = 'bench_upload_private_key';

/** Writes sample.mp4 padded with a `free` box to `bytes` bytes. */
async function makeUploadFile(file: string, bytes: number): Promise<void> {
  const sample = await readFile(fixturePath('sample.mp4'));
  const pad = bytes - sample.length;
  if (pad < 8 || pad >= 2 ** 32) throw new Error('BENCH_UPLOAD_MB out of range');
  const out = createWriteStream(file);
  const write = async (chunk: Buffer) => {
    if (!out.write(chunk)) await once(out, 'drain');
  };
  await write(sample);
  const header = Buffer.alloc(8);
  header.writeUInt32BE(pad, 0);
  header.write('free', 4, 'latin1');
  await write(header);
  const block = Buffer.alloc(1024 * 1024, 0x5a);
  for (let left = pad - 8; left > 0; left -= block.length)
    await write(left >= block.length ? block : block.subarray(0, left));
  out.end();
  await once(out, 'finish');
}

function run(
  command: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ ms: number; stdout: string }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (data) => {
      stdout += data;
    });
    child.stderr.on('data', (data) => {
      stderr += data;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve({ ms: performance.now() - started, stdout });
      else reject(new Error(`${command} exited ${code}: ${stderr.slice(-500)}`));
    });
  });
}

/** Runs scenario 9 and returns its rows. */
export async function uploadIntoS3(options: {
  repoRoot: string;
  work: string;
  log: (line: string) => void;
  details: string[];
}): Promise<Row[]> {
  const { repoRoot, work, log } = options;
  const megabytes = Number(process.env.BENCH_UPLOAD_MB ?? 1024);
  const file = path.join(work, 'upload.mp4');
  log(`  making a ${megabytes} MiB MP4 ...`);
  await makeUploadFile(file, megabytes * 1024 * 1024);
  const size = (await stat(file)).size;
  const s3 = await startTestS3();
  await s3.createBucket('uploads');
  // Stock s3rver has no UploadPartCopy (test support emulates it for the tests, with a second
  // local copy of every byte); the proxy then commits with one CopyObject, as it would there.
  s3.setPartCopy(false);
  const referenceScript = path.join(repoRoot, 'bench/s3-upload-reference.mjs');
  const proxy = await startProxyChild(
    repoRoot,
    {
      ...s3.env,
      ORIGIN: 's3://uploads/p',
      CACHE_DIR: path.join(work, 'cache-upload'),
      LOG_LEVEL: 'warn',
      API_PRIVATE_KEY: KEY,
      UPLOAD_MAX_BYTES: String(2 * 1024 ** 3),
    },
    path.join(work, 'proxy-upload.log'),
  );
  const proxyMs: number[] = [];
  /** The proxy's own account of each upload (Server-Timing: receive, probe, store). */
  const timings: string[] = [];
  const referenceMs: number[] = [];
  let peakKb = 0;
  try {
    const idle = await proxy.memory();
    for (let rep = 0; rep < REPS; rep++) {
      const sampler = setInterval(async () => {
        const memory = await processMemory(proxy.pid);
        if (memory) peakKb = Math.max(peakKb, memory.rssKb);
      }, 100);
      try {
        const { ms, stdout: output } = await run('curl', [
          '-sS',
          '--fail-with-body',
          '-w',
          '\n%header{server-timing}',
          '-u',
          `${KEY}:`,
          '-F',
          `file=@${file};type=video/mp4`,
          '-F',
          `fileName=bench-${rep}.mp4`,
          '-F',
          'useUniqueFileName=false',
          `${proxy.url}/api/v1/files/upload`,
        ]);
        const [stdout = '', timing = ''] = output.split('\n');
        if (JSON.parse(stdout).size !== size)
          throw new Error(`proxy stored ${JSON.parse(stdout).size} bytes`);
        proxyMs.push(ms);
        timings.push(timing);
      } finally {
        clearInterval(sampler);
      }
      referenceMs.push(
        (await run(process.execPath, [referenceScript, file, 'uploads', `reference-${rep}.mp4`, s3.endpoint]))
          .ms,
      );
      log(
        `  rep ${rep + 1}: proxy ${(proxyMs[rep]! / 1000).toFixed(2)} s (${timings[rep]}), AWS SDK ${(referenceMs[rep]! / 1000).toFixed(2)} s`,
      );
    }
    const hwm = (await proxy.memory())?.hwmKb ?? peakKb;
    const proxyMedian = median(proxyMs);
    const referenceMedian = median(referenceMs);
    const ratio = referenceMedian / proxyMedian;
    const mib = size / 1024 ** 2;
    options.details.push(
      `Upload (${mib.toFixed(0)} MiB into s3rver): proxy ${(mib / (proxyMedian / 1000)).toFixed(0)} MiB/s incl. probe and commit copy, ` +
        `AWS SDK Upload ${(mib / (referenceMedian / 1000)).toFixed(0)} MiB/s; proxy RSS idle ${((idle?.rssKb ?? 0) / 1024).toFixed(0)} MB; ` +
        `the proxy's Server-Timing per upload: ${timings.join(' | ')}.`,
    );
    return [
      {
        scenario: `${UPLOAD_SCENARIO} upload into S3`,
        metric: `${mib.toFixed(0)} MiB upload throughput (AWS SDK time / proxy time)`,
        proxy: `${(proxyMedian / 1000).toFixed(2)} s`,
        reference: `${(referenceMedian / 1000).toFixed(2)} s`,
        ratio: `${ratio.toFixed(2)}x`,
        bar: '>= 0.8x',
        pass: ratio >= 0.8,
      },
      {
        scenario: `${UPLOAD_SCENARIO} upload into S3`,
        metric: `proxy peak RSS during a ${mib.toFixed(0)} MiB upload (VmHWM)`,
        proxy: `${(Math.max(hwm, peakKb) / 1024).toFixed(0)} MB`,
        reference: '-',
        ratio: `${(Math.max(hwm, peakKb) / 1024).toFixed(0)} MB`,
        bar: '<= 300 MB',
        pass: Math.max(hwm, peakKb) / 1024 <= 300,
      },
    ];
  } finally {
    await proxy.close();
    await s3.close();
    await rm(file, { force: true });
  }
}
