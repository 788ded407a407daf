import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterEach, describe, expect, test } from 'vitest';
import { createFfmpegSpy, type FfmpegSpy } from '../support/ffmpeg-spy.js';
import { fixturePath } from '../support/fixtures.js';
import { startProxy, type TestProxy } from '../support/proxy.js';
import { fetchBytes } from './helpers.js';

const run = promisify(execFile);

/**
 * Stills from the MP4 index, decoded by ffmpeg processes started before the request
 * (`FFMPEG_STANDBY`): the frame must be the one ffmpeg's own seek gives, the processes must be
 * started ahead and replaced after use, and nothing may outlive the proxy.
 */
let spy: FfmpegSpy | undefined;
let proxy: TestProxy | undefined;

afterEach(async () => {
  await proxy?.close();
  await spy?.remove();
  proxy = undefined;
  spy = undefined;
});

/** Greyscale pixels of an image, for comparing two renderings of one frame. */
async function greyPixels(image: Buffer, width: number, height: number): Promise<Buffer> {
  return sharp(image).resize(width, height, { fit: 'fill' }).greyscale().raw().toBuffer();
}

function meanAbsoluteDifference(a: Buffer, b: Buffer): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum / a.length;
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return check();
}

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('stills from standby ffmpeg processes', () => {
  test('the frame is the one ffmpeg seeks to; the process was started before the request and is replaced after', async () => {
    spy = await createFfmpegSpy();
    proxy = await startProxy({ FFMPEG_PATH: spy.path, FFMPEG_STANDBY: '1' });
    const standby = (run: { argv: string }) => run.argv.includes('-i pipe:0');
    expect(await waitFor(async () => (await spy!.runs()).some(standby), 5000)).toBe(true);
    const before = (await spy.runs()).filter(standby);
    expect(before.length).toBe(1);

    for (const seconds of [5, 7.3]) {
      const response = await fetchBytes(`${proxy.url}/sample.mp4/ik-thumbnail.jpg?tr=so-${seconds},w-320`);
      expect(response.status).toBe(200);
      const meta = await sharp(response.body).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', 320, 180]);
      // ffmpeg's own seek to that time, and to the frames either side: ours must be nearest the
      // first (JPEG noise apart), which tells a frame off by one.
      const distances: number[] = [];
      for (const at of [seconds, seconds - 1.5 / 30, seconds + 0.5 / 30]) {
        const { stdout: reference } = await run(
          'ffmpeg',
          [
            '-v',
            'error',
            '-ss',
            at.toFixed(4),
            '-i',
            fixturePath('sample.mp4'),
            '-frames:v',
            '1',
            '-c:v',
            'png',
            '-f',
            'image2pipe',
            'pipe:1',
          ],
          { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 },
        );
        distances.push(
          meanAbsoluteDifference(
            await greyPixels(response.body, 320, 180),
            await greyPixels(reference, 320, 180),
          ),
        );
      }
      const [same, before, after] = distances as [number, number, number];
      expect(same, `so-${seconds}: ${distances.join(', ')}`).toBeLessThan(Math.min(before, after));
      expect(same).toBeLessThan(4);
    }
    const runs = await spy.runs();
    // No seek ran: both stills came from frame files; each use was followed by a new standby.
    expect(runs.filter((r) => r.argv.includes('-ss '))).toEqual([]);
    expect(await waitFor(async () => (await spy!.runs()).filter(standby).length >= 3, 5000)).toBe(true);
  });

  test('a standby killed while waiting costs nothing but its start: the next still is made anyway', async () => {
    spy = await createFfmpegSpy();
    proxy = await startProxy({ FFMPEG_PATH: spy.path, FFMPEG_STANDBY: '1' });
    expect(await waitFor(async () => (await spy!.runs()).length === 1, 5000)).toBe(true);
    const [waiting] = await spy.runs();
    process.kill(waiting!.pid, 'SIGKILL');
    expect(await waitFor(async () => !isAlive(waiting!.pid), 5000)).toBe(true);
    const response = await fetchBytes(`${proxy.url}/sample.mp4/ik-thumbnail.jpg?tr=so-2,w-100`);
    expect(response.status).toBe(200);
    expect((await sharp(response.body).metadata()).width).toBe(100);
  });

  test('several stills at once with one standby: all made, each right', async () => {
    proxy = await startProxy({ FFMPEG_STANDBY: '1', MAX_JOBS: '2' });
    const seconds = [1, 3, 5, 7, 9, 11];
    const responses = await Promise.all(
      seconds.map((s) => fetchBytes(`${proxy!.url}/sample.mp4/ik-thumbnail.jpg?tr=so-${s},w-160`)),
    );
    for (const response of responses) expect(response.status).toBe(200);
    const sizes = await Promise.all(responses.map((r) => sharp(r.body).metadata()));
    expect(sizes.map((m) => [m.width, m.height])).toEqual(seconds.map(() => [160, 90]));
    // Different times, different frames.
    expect(new Set(responses.map((r) => r.body.toString('base64'))).size).toBe(seconds.length);
  });

  test('an index that points past the end of the file is not trusted: ffmpeg reads the file itself', async () => {
    const folder = await mkdtemp(path.join(os.tmpdir(), 'ikvp-lying-index-'));
    try {
      const file = Buffer.from(await readFile(fixturePath('sample.mp4')));
      // Every chunk offset of every track moved 1 GB on: the samples "lie" far past the end.
      let at = file.indexOf('stco', 0, 'latin1');
      while (at >= 0) {
        const entries = file.readUInt32BE(at + 8);
        for (let i = 0; i < entries; i++) {
          const offset = at + 12 + i * 4;
          file.writeUInt32BE(file.readUInt32BE(offset) + 1_000_000_000, offset);
        }
        at = file.indexOf('stco', at + 4, 'latin1');
      }
      await writeFile(path.join(folder, 'lying.mp4'), file);
      proxy = await startProxy({ ORIGIN: folder, FFMPEG_STANDBY: '1' });
      const response = await fetchBytes(`${proxy.url}/lying.mp4/ik-thumbnail.jpg?tr=so-2,w-100`);
      // The frame file is not tried (its byte range lies past the end): ffmpeg's own seek decides,
      // as for any corrupt file, and the origin is never blamed for the file's lies.
      const body = response.body.toString();
      expect([502, 504], body).not.toContain(response.status);
      expect(body).not.toMatch(/origin/i);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  test('closing the proxy kills its standbys', async () => {
    spy = await createFfmpegSpy();
    proxy = await startProxy({ FFMPEG_PATH: spy.path, FFMPEG_STANDBY: '2' });
    expect(await waitFor(async () => (await spy!.runs()).length === 2, 5000)).toBe(true);
    const pids = (await spy.runs()).map((r) => r.pid);
    expect(pids.every(isAlive)).toBe(true);
    await proxy.close();
    proxy = undefined;
    expect(await waitFor(async () => !pids.some(isAlive), 5000)).toBe(true);
  });
});
