import { existsSync } from 'node:fs';
import { mkdir, readFile, rename } from 'node:fs/promises';
import path from 'node:path';
import { liveRungs, liveTranscodeArgs } from '../src/live/ladder.js';
import type { Row } from './report.js';
import { startProxyChild } from './servers.js';
import { freePort, mustRun, runCommand, sleep } from './util.js';

/**
 * Scenario 8, live: a 720p30 H.264/AAC source is published in real time (`ffmpeg -re -c copy`,
 * so the publisher costs almost nothing) for 60 s to a proxy process with `LIVE_SR=240_360`.
 * Measured while it runs: the transcoder's steady speed (frames encoded per second after the
 * first 10 s, over 30 fps: >= 1.0x keeps up), the CPU the transcoder uses (cores, from
 * /proc/<pid>/stat), the encoder speed the proxy reports in /metrics, and how long after the
 * publisher's stop the playlist ends. Then the same transcoder argv runs unthrottled on the file:
 * its speed is the headroom (2x = it needs half the machine).
 */

export const LIVE_SCENARIO = 8;
const SECONDS = 60;
const FPS = 30;
const KEY = 'bench-live-key';
const CLOCK_TICKS = 100;

async function ensureSource(mediaDir: string, log: (line: string) => void): Promise<string> {
  await mkdir(mediaDir, { recursive: true });
  const target = path.join(mediaDir, 'live-720p30-62s.mp4');
  if (existsSync(target)) return target;
  log('  generating live-720p30-62s.mp4 ...');
  const tmp = `${target}.tmp.mp4`;
  await mustRun(
    'ffmpeg',
    [
      ...['-hide_banner', '-loglevel', 'error', '-nostdin', '-y'],
      ...[
        '-f',
        'lavfi',
        '-i',
        `testsrc2=size=1280x720:rate=${FPS}`,
        '-f',
        'lavfi',
        '-i',
        'sine=frequency=440:sample_rate=48000',
      ],
      ...[
        '-t',
        String(SECONDS + 2),
        '-c:v',
        'libx264',
        '-preset',
        'veryfast',
        '-b:v',
        '3M',
        '-g',
        String(FPS * 2),
      ],
      ...['-pix_fmt', 'yuv420p', '-c:a', 'aac', '-b:a', '128k', '-movflags', '+faststart', tmp],
    ],
    600_000,
  );
  await rename(tmp, target);
  return target;
}

/** User + system CPU seconds of a process so far; undefined once it is gone. */
async function cpuSeconds(pid: number): Promise<number | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (!stat) return undefined;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

function metric(text: string, name: string): number | undefined {
  const value = new RegExp(`^${name}\\{stream="bench"\\} ([\\d.e+-]+)$`, 'm').exec(text)?.[1];
  return value === undefined ? undefined : Number(value);
}

/** Runs scenario 8 and returns its rows. */
export async function liveRealTime(options: {
  repoRoot: string;
  mediaDir: string;
  work: string;
  log: (line: string) => void;
  details: string[];
}): Promise<Row[]> {
  const { repoRoot, mediaDir, work, log, details } = options;
  const source = await ensureSource(mediaDir, log);
  const origin = path.join(work, 'live-origin');
  await mkdir(origin, { recursive: true });
  const rtmpPort = await freePort();
  const proxy = await startProxyChild(
    repoRoot,
    {
      ORIGIN: origin,
      CACHE_DIR: path.join(work, 'live-cache'),
      RTMP_PORT: String(rtmpPort),
      LIVE_STREAM_KEYS: `bench=${KEY}`,
      LIVE_SR: '240_360',
      LOG_LEVEL: 'warn',
    },
    path.join(work, 'proxy-live.log'),
  );
  try {
    const published = runCommand(
      'ffmpeg',
      [
        ...['-hide_banner', '-loglevel', 'error', '-nostdin', '-re', '-i', source, '-t', String(SECONDS)],
        ...['-c', 'copy', '-f', 'flv', `rtmp://127.0.0.1:${rtmpPort}/live/${KEY}`],
      ],
      (SECONDS + 60) * 1000,
    );
    let finished = false;
    let stoppedAt = 0;
    void published.finally(() => {
      finished = true;
      stoppedAt = performance.now();
    });
    let transcoder: number | undefined;
    const samples: Array<{ at: number; frames: number; cpu: number; speed: number }> = [];
    while (!finished) {
      await sleep(2000);
      transcoder ??= (await proxy.mediaPids())[0];
      const text = await (await fetch(`${proxy.url}/metrics`)).text().catch(() => '');
      const frames = metric(text, 'ikvp_live_frames');
      const cpu = transcoder === undefined ? undefined : await cpuSeconds(transcoder);
      if (frames !== undefined && cpu !== undefined)
        samples.push({
          at: performance.now(),
          frames,
          cpu,
          speed: metric(text, 'ikvp_live_encoder_speed') ?? 0,
        });
    }
    const result = await published;
    if (result.code !== 0)
      throw new Error(`publisher exited with ${result.code}: ${result.stderr.slice(-500)}`);
    // The playlist's end after an explicit unpublish.
    let endedMs = Number.NaN;
    for (let i = 0; i < 100; i++) {
      const master = await fetch(`${proxy.url}/live/bench/ik-master.m3u8`).then((r) => r.text());
      const variant = master.split('\n').find((line) => line.endsWith('index.m3u8') && line.includes('360p'));
      const list = variant ? await fetch(`${proxy.url}/live/bench/${variant}`).then((r) => r.text()) : '';
      if (list.includes('#EXT-X-ENDLIST')) {
        endedMs = performance.now() - stoppedAt;
        break;
      }
      await sleep(100);
    }
    const steady = samples.filter((s) => s.at - samples[0]!.at >= 10_000);
    const first = steady[0];
    const last = steady.at(-1);
    if (!first || !last || last === first) throw new Error(`too few samples (${samples.length})`);
    const wall = (last.at - first.at) / 1000;
    const speed = (last.frames - first.frames) / FPS / wall;
    const cores = (last.cpu - first.cpu) / wall;
    const reported = last.speed;

    // The same job unthrottled on the file: how much faster than real time it could go.
    const outDir = path.join(work, 'live-unthrottled');
    await mkdir(outDir, { recursive: true });
    const args = liveTranscodeArgs({
      rungs: liveRungs([240, 360], { width: 1280, height: 720 }),
      hasAudio: true,
      segmentSeconds: 2,
      partSeconds: 0.5,
      outDir,
    });
    const inputAt = args.indexOf('pipe:0');
    const unthrottledArgs = [
      ...args.slice(0, inputAt - 3),
      '-i',
      source,
      '-t',
      String(SECONDS),
      ...args.slice(inputAt + 1),
    ];
    const unthrottled = await mustRun(
      'ffmpeg',
      // The renditions go to files here (the proxy reads them from pipes 3, 4...).
      unthrottledArgs.map((a) =>
        a === 'pipe:1' ? '/dev/null' : /^pipe:\d+$/.test(a) ? path.join(outDir, `${a.slice(5)}.mp4`) : a,
      ),
      600_000,
    );
    const headroom = SECONDS / (unthrottled.ms / 1000);
    details.push(
      `8 live: ${samples.length} samples every 2 s; transcoder steady ${speed.toFixed(3)}x over ${wall.toFixed(0)} s using ${cores.toFixed(2)} cores; /metrics speed at the end ${reported}x; playlist ended ${Number.isNaN(endedMs) ? '?' : `${(endedMs / 1000).toFixed(2)} s`} after the publisher stopped; unthrottled the same argv encodes 60 s in ${(unthrottled.ms / 1000).toFixed(1)} s.`,
    );
    return [
      {
        scenario: '8 live 720p30 -> 240/360',
        metric: 'transcoder speed over 60 s of real-time input (frames/s / 30)',
        proxy: `${speed.toFixed(3)}x`,
        reference: '1.0x (real time)',
        ratio: `${speed.toFixed(3)}x`,
        bar: '>= 1.0x',
        pass: speed >= 0.99,
      },
      {
        scenario: '8 live 720p30 -> 240/360',
        metric: 'CPU the live transcoder uses (of 2 cores)',
        proxy: `${cores.toFixed(2)} cores`,
        reference: '-',
        ratio: `${((cores / 2) * 100).toFixed(0)}%`,
        bar: 'room for VOD work (< 100%)',
        pass: cores < 2,
      },
      {
        scenario: '8 live 720p30 -> 240/360',
        metric: 'same argv unthrottled on the file (headroom)',
        proxy: `${(unthrottled.ms / 1000).toFixed(1)} s for 60 s`,
        reference: '-',
        ratio: `${headroom.toFixed(2)}x`,
        bar: 'informational',
        pass: undefined,
      },
      {
        scenario: '8 live 720p30 -> 240/360',
        metric: 'unpublish -> #EXT-X-ENDLIST',
        proxy: `${(endedMs / 1000).toFixed(2)} s`,
        reference: '-',
        ratio: `${(endedMs / 1000).toFixed(2)} s`,
        bar: '<= 4 s (2 segments)',
        pass: endedMs <= 4000,
      },
    ];
  } finally {
    await proxy.close();
  }
}
