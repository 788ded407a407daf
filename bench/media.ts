import { existsSync } from 'node:fs';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { mustRun } from './util.js';

/** The generated sources every scenario reads (local copies; the same files are uploaded to S3). */
export interface BenchMedia {
  /** 1080p, 60 s, H.264/AAC, ~4 Mb/s, 2 s GOP. */
  big: string;
  /** 640x360, 10 min, H.264/AAC. */
  long: string;
  /** 640x360, 10 s, encoded exactly like `long`. */
  short: string;
  /** ~1 GB 1080p H.264/AAC at ~40 Mb/s (copies of one noisy clip joined with `-c copy`). */
  huge: string;
  /** 854x480 film-grain clip whose q-100 transcode is ~40 MB (the large cached output). */
  grain: string;
}

const AUDIO = ['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000'];
const AUDIO_OUT = ['-c:a', 'aac', '-b:a', '128k'];
const HUGE_PIECE_SECONDS = 25;
const HUGE_PIECES = 8;

/** Runs `make(tmpPath)` unless `target` exists; the rename makes an interrupted run leave nothing. */
async function cached(
  target: string,
  log: (line: string) => void,
  make: (tmp: string) => Promise<void>,
): Promise<void> {
  if (existsSync(target)) return;
  const tmp = `${target}.tmp.mp4`;
  const started = performance.now();
  log(`  generating ${path.basename(target)} ...`);
  await make(tmp);
  await rename(tmp, target);
  const { size } = await stat(target);
  log(
    `  ${path.basename(target)}: ${(size / 1e6).toFixed(1)} MB in ${((performance.now() - started) / 1000).toFixed(0)} s`,
  );
}

async function ffmpeg(args: string[]): Promise<void> {
  await mustRun('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y', ...args], 900_000);
}

/** Generates (once; kept in `dir` across runs) the sources the scenarios use. */
export async function ensureMedia(dir: string, log: (line: string) => void): Promise<BenchMedia> {
  await mkdir(dir, { recursive: true });
  const media: BenchMedia = {
    big: path.join(dir, 'big-1080p-60s.mp4'),
    long: path.join(dir, 'long-360p-10min.mp4'),
    short: path.join(dir, 'short-360p-10s.mp4'),
    huge: path.join(dir, 'huge-1080p-1GB.mp4'),
    grain: path.join(dir, 'grain-480p.mp4'),
  };
  await cached(media.big, log, (tmp) =>
    ffmpeg([
      ...[
        '-f',
        'lavfi',
        '-i',
        'testsrc2=size=1920x1080:rate=30',
        ...AUDIO,
        '-t',
        '60',
        '-map',
        '0:v',
        '-map',
        '1:a',
      ],
      ...[
        '-c:v',
        'libx264',
        '-preset',
        'ultrafast',
        '-b:v',
        '4M',
        '-maxrate',
        '5M',
        '-bufsize',
        '8M',
        '-g',
        '60',
      ],
      ...['-pix_fmt', 'yuv420p', ...AUDIO_OUT, '-movflags', '+faststart', '-f', 'mp4', tmp],
    ]),
  );
  const lowRes = (seconds: number) => (tmp: string) =>
    ffmpeg([
      ...[
        '-f',
        'lavfi',
        '-i',
        'testsrc2=size=640x360:rate=30',
        ...AUDIO,
        '-t',
        String(seconds),
        '-map',
        '0:v',
        '-map',
        '1:a',
      ],
      ...[
        '-c:v',
        'libx264',
        '-preset',
        'ultrafast',
        '-b:v',
        '600k',
        '-maxrate',
        '800k',
        '-bufsize',
        '1200k',
        '-g',
        '60',
      ],
      ...['-pix_fmt', 'yuv420p', ...AUDIO_OUT, '-movflags', '+faststart', '-f', 'mp4', tmp],
    ]);
  await cached(media.short, log, lowRes(10));
  await cached(media.long, log, lowRes(600));
  await cached(media.grain, log, (tmp) =>
    ffmpeg([
      ...['-f', 'lavfi', '-i', 'testsrc2=size=854x480:rate=30,noise=alls=30:allf=t', ...AUDIO, '-t', '6'],
      ...['-map', '0:v', '-map', '1:a', '-c:v', 'libx264', '-preset', 'ultrafast', '-qp', '8', '-g', '60'],
      ...['-pix_fmt', 'yuv420p', ...AUDIO_OUT, '-movflags', '+faststart', '-f', 'mp4', tmp],
    ]),
  );
  await cached(media.huge, log, async (tmp) => {
    // Encoding 1 GB directly takes minutes on 2 cores; one noisy 40 Mb/s clip joined to itself
    // with stream copy is a real, seekable, playable file of the same size in a fraction of that.
    const piece = path.join(dir, 'huge-piece.mp4');
    const list = path.join(dir, 'huge-list.txt');
    try {
      await ffmpeg([
        ...['-f', 'lavfi', '-i', 'testsrc2=size=1920x1080:rate=30,noise=alls=12:allf=t', ...AUDIO],
        ...[
          '-t',
          String(HUGE_PIECE_SECONDS),
          '-map',
          '0:v',
          '-map',
          '1:a',
          '-c:v',
          'libx264',
          '-preset',
          'ultrafast',
        ],
        ...[
          '-b:v',
          '40M',
          '-maxrate',
          '40M',
          '-bufsize',
          '40M',
          '-g',
          '60',
          '-pix_fmt',
          'yuv420p',
          ...AUDIO_OUT,
        ],
        ...['-f', 'mp4', piece],
      ]);
      await writeFile(list, `${Array.from({ length: HUGE_PIECES }, () => `file '${piece}'`).join('\n')}\n`);
      await ffmpeg([
        '-f',
        'concat',
        '-safe',
        '0',
        '-i',
        list,
        '-c',
        'copy',
        '-movflags',
        '+faststart',
        '-f',
        'mp4',
        tmp,
      ]);
    } finally {
      await rm(piece, { force: true });
      await rm(list, { force: true });
    }
  });
  return media;
}
