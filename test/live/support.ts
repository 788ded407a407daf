import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { encodeAmf0 } from '../../src/live/amf0.js';
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
export function publish(
  url: string,
  options: { seconds: number; size?: string; fps?: number; only?: 'video' | 'audio' },
): Publisher {
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
    ...(options.only === 'video' ? ['-an'] : options.only === 'audio' ? ['-vn'] : []),
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

/** One RTMP message as fmt-0 chunks of 128 bytes (the default chunk size). */
function chunks(csid: number, type: number, streamId: number, body: Buffer): Buffer {
  const header = Buffer.alloc(12);
  header[0] = csid;
  header.writeUIntBE(body.length, 4, 3);
  header[7] = type;
  header.writeUInt32LE(streamId, 8);
  const parts: Buffer[] = [header];
  for (let offset = 0; offset < body.length; offset += 128) {
    if (offset > 0) parts.push(Buffer.from([0xc0 | csid]));
    parts.push(body.subarray(offset, offset + 128));
  }
  return Buffer.concat(parts);
}

/**
 * A bare RTMP publisher: handshake, `connect`, `createStream`, `publish`, then whatever the test
 * does with the socket (send garbage, go silent). Resolves with the socket and everything the
 * server answered so far once it has answered the publish (or closed).
 */
export async function rawPublisher(
  port: number,
  key: string,
): Promise<{ socket: Socket; answers: () => string }> {
  const socket = connect(port, '127.0.0.1');
  let received: Buffer = Buffer.alloc(0);
  socket.on('data', (data: Buffer) => {
    received = Buffer.concat([received, data]);
  });
  socket.on('error', () => {});
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write(Buffer.concat([Buffer.from([3]), randomBytes(1536)]));
  // S0 + S1 + S2 = 3073 bytes, then C2.
  for (let i = 0; i < 100 && received.length < 3073; i++) await new Promise((r) => setTimeout(r, 20));
  socket.write(randomBytes(1536));
  socket.write(
    chunks(
      3,
      20,
      0,
      encodeAmf0('connect', 1, { app: 'live', type: 'nonprivate', tcUrl: `rtmp://127.0.0.1:${port}/live` }),
    ),
  );
  socket.write(chunks(3, 20, 0, encodeAmf0('createStream', 2, null)));
  socket.write(chunks(4, 20, 1, encodeAmf0('publish', 3, null, key, 'live')));
  const answers = () => received.subarray(3073).toString('latin1');
  for (let i = 0; i < 100 && !/NetStream\.Publish\.\w+/.test(answers()) && !socket.destroyed; i++)
    await new Promise((r) => setTimeout(r, 20));
  return { socket, answers };
}
