import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { ffprobe } from '../support/ffprobe.js';
import { type ProxyProcess, startProxyProcess } from '../support/proxy-process.js';
import { waitFor } from '../support/wait.js';
import { type Publisher, publish } from './support.js';

/**
 * SIGTERM while a stream is live: the proxy process ends the stream (its playlist gets
 * `#EXT-X-ENDLIST` before the listener goes), stores the recording in the origin, disconnects the
 * publisher, leaves no transcoder behind and exits 0.
 */

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Processes whose command line mentions `needle` (the test's own folders). */
async function processesMentioning(needle: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(needle)) found.push(Number(entry));
  }
  return found;
}

describe('live: SIGTERM while live', () => {
  let work: string;
  let proxy: ProxyProcess | undefined;
  let publisher: Publisher | undefined;
  afterAll(async () => {
    publisher?.child.kill('SIGKILL');
    await proxy?.stop(2000);
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('ends the stream, stores the recording and exits cleanly', { timeout: 90_000 }, async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'ikvp-live-sigterm-'));
    const origin = path.join(work, 'origin');
    await mkdir(origin, { recursive: true });
    const rtmpPort = await freePort();
    proxy = await startProxyProcess({
      ORIGIN: origin,
      CACHE_DIR: path.join(work, 'cache'),
      RTMP_PORT: String(rtmpPort),
      LIVE_STREAM_KEYS: 'demo=sigterm-test-key',
      LIVE_SR: '240',
      LIVE_SEGMENT_SECONDS: '1',
    });
    publisher = publish(`rtmp://127.0.0.1:${rtmpPort}/live/sigterm-test-key`, {
      seconds: 60,
      size: '320x180',
    });
    const master = `${proxy.url}/live/demo/ik-master.m3u8`;
    expect(
      await waitFor(async () => (await fetch(master).catch(() => undefined))?.status === 200, 20_000),
    ).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const sentUntil = Date.now();
    proxy.child.kill('SIGTERM');
    const { code } = await proxy.exited;
    expect(code).toBe(0);
    expect((await publisher.exited).code).not.toBe(0);
    const stored = await readdir(path.join(origin, 'recordings'));
    expect(stored).toHaveLength(1);
    const probed = await ffprobe(path.join(origin, 'recordings', stored[0]!));
    expect(Math.abs(Number(probed.format.duration) - (sentUntil - publisher.startedAt) / 1000)).toBeLessThan(
      2.5,
    );
    expect(await processesMentioning(work)).toEqual([]);
    expect(proxy.output()).toContain('live recording stored');
  });
});
