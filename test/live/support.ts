import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { REAL_FFMPEG } from '../support/ffprobe.js';

const FONT = '/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf';

/** A running test publisher and how it ended. */
export interface Publisher {
  child: ChildProcess;
  startedAt: number;
  /** Resolves with the exit code (null when killed) and ffmpeg's stderr. */
  exited: Promise<{ code: number | null; stderr: string }>;
}

/**
 * ffmpeg publishing a test pattern with a tone over RTMP, in real time (`-re`), as OBS would: a
 * burnt-in wall clock (when a font is installed) so a frame's time can be read off the screen.
 */
export function publish(url: string, options: { seconds: number; size?: string; fps?: number }): Publisher {
  const size = options.size ?? '640x360';
  const fps = options.fps ?? 30;
  const clock = existsSync(FONT)
    ? `,drawtext=fontfile=${FONT}:text='%{localtime\\:%T}':fontsize=40:fontcolor=white:box=1:boxcolor=black:x=10:y=10`
    : '';
  const args = [
    '-hide_banner',
    '-loglevel',
    'error',
    '-re',
    '-f',
    'lavfi',
    '-i',
    `testsrc2=s=${size}:r=${fps}${clock}`,
    '-f',
    'lavfi',
    '-i',
    'sine=f=440:r=48000',
    '-t',
    String(options.seconds),
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-tune',
    'zerolatency',
    '-g',
    String(fps),
    '-pix_fmt',
    'yuv420p',
    '-c:a',
    'aac',
    '-b:a',
    '96k',
    '-f',
    'flv',
    url,
  ];
  const child = spawn(REAL_FFMPEG, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<{ code: number | null; stderr: string }>((resolve) =>
    child.once('close', (code) => resolve({ code, stderr })),
  );
  return { child, startedAt: Date.now(), exited };
}

/** The newest segment's end by its program date time and duration (design §5's live edge). */
export function playlistEdge(text: string): { segments: number; edgeMs: number | undefined } {
  let pdt: number | undefined;
  let edge: number | undefined;
  let segments = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) pdt = Date.parse(line.slice(25));
    else if (line.startsWith('#EXTINF:') && pdt !== undefined) {
      edge = pdt + Number.parseFloat(line.slice(8)) * 1000;
      segments++;
    }
  }
  return { segments, edgeMs: edge };
}
