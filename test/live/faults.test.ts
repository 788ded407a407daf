import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { liveChildCount, liveChildPids } from '../../src/media/runner.js';
import { ffprobe } from '../support/ffprobe.js';
import { startProxy, type TestProxy } from '../support/proxy.js';
import { waitFor } from '../support/wait.js';
import { playlistEdge, publish } from './support.js';

/**
 * Faults while live: a publisher whose connection drops and comes back within the grace resumes
 * into the same stream and recording; one that does not come back ends the stream after the
 * grace; a transcoder that dies ends the playlist cleanly and keeps what was received. The proxy
 * stays healthy throughout. Small inputs (320x180, one 240p rung) keep the CPU cost low.
 */

const KEY = 'faults-test-key-1';
const GRACE_S = 4;

describe('live: faults', () => {
  let proxy: TestProxy;
  let originDir: string;
  let rtmp: string;

  beforeAll(async () => {
    originDir = await mkdtemp(path.join(os.tmpdir(), 'ikvp-live-faults-'));
    proxy = await startProxy({
      ORIGIN: originDir,
      RTMP_PORT: '0',
      LIVE_STREAM_KEYS: `demo=${KEY}`,
      LIVE_SR: '240',
      LIVE_RESUME_GRACE_S: String(GRACE_S),
      LIVE_SEGMENT_SECONDS: '1',
    });
    rtmp = `rtmp://127.0.0.1:${proxy.proxy.live!.port}/live/${KEY}`;
  });
  afterAll(async () => {
    await proxy?.close();
    await rm(originDir, { recursive: true, force: true });
  });

  const live = () => proxy.proxy.live!;
  /** A 30 s publisher, once its stream lists two segments. */
  const publishUntilLive = async () => {
    const publisher = publish(rtmp, { seconds: 30, size: '320x180' });
    expect(
      await waitFor(
        async () => live().streams[0]?.state === 'live' && playlistEdge(await variantText()).segments >= 2,
        15_000,
      ),
    ).toBe(true);
    return publisher;
  };
  const variantText = async () => {
    const master = await (await fetch(`${proxy.url}/live/demo/ik-master.m3u8`)).text();
    const variant = master.split('\n').find((line) => line.endsWith('index.m3u8') && !line.includes('audio'));
    return (await fetch(`${proxy.url}/live/demo/${variant}`)).text();
  };

  test('a dropped publisher that reconnects within the grace resumes into the same stream and recording', {
    timeout: 90_000,
  }, async () => {
    const first = publish(rtmp, { seconds: 30, size: '320x180' });
    expect(await waitFor(async () => playlistEdge(await variantText()).segments >= 3, 15_000)).toBe(true);
    const run = live().streams[0]!.id;
    // SIGKILL: the connection ends without an unpublish, as when a network drops.
    first.child.kill('SIGKILL');
    const droppedAt = Date.now();
    await first.exited;
    const sentFirst = (droppedAt - first.startedAt) / 1000;
    expect(await waitFor(() => live().streams[0]?.state === 'interrupted', 5000)).toBe(true);
    expect(await variantText()).not.toContain('#EXT-X-ENDLIST');

    const second = publish(rtmp, { seconds: 4, size: '320x180' });
    expect(await waitFor(() => live().streams[0]?.state === 'live', 5000)).toBe(true);
    expect(live().streams).toHaveLength(1);
    expect(live().streams[0]!.id).toBe(run);
    expect((await second.exited).code).toBe(0);
    expect(await waitFor(async () => (await variantText()).includes('#EXT-X-ENDLIST'), 10_000)).toBe(true);
    expect(await waitFor(() => live().stored.length === 1, 30_000)).toBe(true);
    const probed = await ffprobe(path.join(originDir, live().stored[0]!));
    // One recording holding both connections' media: the time before the drop plus 4 s.
    expect(Math.abs(Number(probed.format.duration) - (sentFirst + 4))).toBeLessThan(2);
  });

  test('a dropped publisher that does not come back ends the stream after the grace', {
    timeout: 60_000,
  }, async () => {
    const before = live().stored.length;
    const publisher = await publishUntilLive();
    publisher.child.kill('SIGKILL');
    const droppedAt = Date.now();
    expect(
      await waitFor(async () => (await variantText()).includes('#EXT-X-ENDLIST'), (GRACE_S + 8) * 1000),
    ).toBe(true);
    expect(Date.now() - droppedAt).toBeGreaterThan(GRACE_S * 1000 - 500);
    expect(await waitFor(() => live().stored.length === before + 1, 30_000)).toBe(true);
  });

  test('a video-only publisher gets a ladder without audio; an audio-only one is refused', {
    timeout: 60_000,
  }, async () => {
    const before = live().stored.length;
    const videoOnly = publish(rtmp, { seconds: 3, size: '320x180', only: 'video' });
    expect((await videoOnly.exited).code).toBe(0);
    expect(await waitFor(() => live().stored.length === before + 1, 30_000)).toBe(true);
    const master = await (await fetch(`${proxy.url}/live/demo/ik-master.m3u8`)).text();
    expect(master).not.toContain('TYPE=AUDIO');
    expect(master).toContain('RESOLUTION=320x180');
    const probed = await ffprobe(path.join(originDir, live().stored.at(-1)!));
    expect(probed.streams.map((s) => s.codec_type)).toEqual(['video']);

    const audioOnly = publish(rtmp, { seconds: 15, only: 'audio' });
    const { code } = await audioOnly.exited;
    expect(code).not.toBe(0);
    expect(Date.now() - audioOnly.startedAt).toBeLessThan(10_000);
    expect(live().streams.every((s) => s.state === 'ended')).toBe(true);
    expect(liveChildCount()).toBe(0);
  });

  test('a transcoder that dies ends the playlist cleanly, keeps the recording and the proxy healthy', {
    timeout: 60_000,
  }, async () => {
    const before = live().stored.length;
    const publisher = await publishUntilLive();
    const [pid] = liveChildPids();
    expect(pid).toBeDefined();
    process.kill(pid!, 'SIGKILL');
    const killedAt = Date.now();
    const text = await waitFor(async () => (await variantText()).includes('#EXT-X-ENDLIST'), 10_000);
    expect(text).toBe(true);
    // The publisher is disconnected, not left sending into nothing.
    expect((await publisher.exited).code).not.toBe(0);
    expect(await waitFor(() => live().stored.length === before + 1, 30_000)).toBe(true);
    const probed = await ffprobe(path.join(originDir, live().stored.at(-1)!));
    expect(Math.abs(Number(probed.format.duration) - (killedAt - publisher.startedAt) / 1000)).toBeLessThan(
      2,
    );
    expect((await fetch(`${proxy.url}/healthz`)).status).toBe(200);
    expect(await waitFor(() => liveChildCount() === 0, 5000)).toBe(true);
  });
});
