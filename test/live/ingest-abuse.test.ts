import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { liveChildCount } from '../../src/media/runner.js';
import { startProxy, type TestProxy } from '../support/proxy.js';
import { waitFor } from '../support/wait.js';
import { publish, rawPublisher } from './support.js';

/**
 * What the RTMP port does with hostile or mistaken clients: a wrong key, a second publisher on a
 * live key, connections that never publish, and random bytes are refused or closed with nothing
 * started (no ffmpeg, no stream), and the proxy stays healthy. Bounded: 50 idle connections, a
 * 3 s handshake limit, one 6 s publisher.
 */

const KEY = 'abuse-test-key-1';
const HANDSHAKE_S = 3;
const GRACE_S = 2;

/** Opens a connection and resolves when the server closes it, with the time that took. */
function closedWithin(port: number, send?: (socket: Socket) => void): Promise<number> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = connect(port, '127.0.0.1', () => send?.(socket));
    socket.on('data', () => {});
    socket.on('error', () => {});
    socket.on('close', () => resolve(Date.now() - started));
  });
}

describe('live: the RTMP port under abuse', () => {
  let proxy: TestProxy;
  let originDir: string;
  let port: number;

  beforeAll(async () => {
    originDir = await mkdtemp(path.join(os.tmpdir(), 'ikvp-live-abuse-'));
    proxy = await startProxy({
      ORIGIN: originDir,
      RTMP_PORT: '0',
      LIVE_STREAM_KEYS: `demo=${KEY}`,
      LIVE_SR: '240',
      RTMP_HANDSHAKE_TIMEOUT: String(HANDSHAKE_S),
      LIVE_RESUME_GRACE_S: String(GRACE_S),
    });
    port = proxy.proxy.live!.port;
  });
  afterAll(async () => {
    await proxy?.close();
    await rm(originDir, { recursive: true, force: true });
  });

  const nothingStarted = () => {
    expect(liveChildCount()).toBe(0);
    expect(proxy.proxy.live!.streams.filter((s) => s.state !== 'ended')).toHaveLength(0);
  };

  test('a wrong key is refused before anything starts', async () => {
    const wrong = publish(`rtmp://127.0.0.1:${port}/live/not-the-key`, { seconds: 5, size: '320x180' });
    const { code } = await wrong.exited;
    expect(code).not.toBe(0);
    expect(Date.now() - wrong.startedAt).toBeLessThan(4000);
    nothingStarted();
    const wrongApp = publish(`rtmp://127.0.0.1:${port}/other/${KEY}`, { seconds: 5, size: '320x180' });
    expect((await wrongApp.exited).code).not.toBe(0);
    nothingStarted();
  });

  test('50 connections that never publish, and half handshakes, are closed within the limit', async () => {
    const idle = Array.from({ length: 50 }, () => closedWithin(port));
    const half = closedWithin(port, (socket) =>
      socket.write(Buffer.concat([Buffer.from([3]), randomBytes(1536)])),
    );
    const health = await fetch(`${proxy.url}/healthz`);
    expect(health.status).toBe(200);
    const times = await Promise.all([...idle, half]);
    for (const ms of times) {
      expect(ms).toBeGreaterThan(HANDSHAKE_S * 1000 - 500);
      expect(ms).toBeLessThan(HANDSHAKE_S * 1000 + 3000);
    }
    nothingStarted();
  });

  test('random bytes are closed at once, with or without a valid first byte', async () => {
    const garbage = await closedWithin(port, (socket) => socket.write(randomBytes(4096).fill(0x47, 0, 1)));
    expect(garbage).toBeLessThan(1000);
    // A valid version byte and handshake, then noise in place of the chunk stream.
    const noisy = await closedWithin(port, (socket) => {
      socket.write(Buffer.concat([Buffer.from([3]), randomBytes(1536)]));
      setTimeout(() => socket.write(Buffer.concat([randomBytes(1536), randomBytes(300 * 1024)])), 100);
    });
    expect(noisy).toBeLessThan(HANDSHAKE_S * 1000 + 1000);
    nothingStarted();
    expect((await fetch(`${proxy.url}/healthz`)).status).toBe(200);
  });

  test('garbage after a valid publish closes the connection and ends the stream with nothing started', {
    timeout: 30_000,
  }, async () => {
    const { socket, answers } = await rawPublisher(port, KEY);
    expect(answers()).toContain('NetStream.Publish.Start');
    const closed = new Promise<number>((resolve) => {
      const at = Date.now();
      socket.once('close', () => resolve(Date.now() - at));
    });
    socket.write(randomBytes(64 * 1024));
    expect(await closed).toBeLessThan(1000);
    // A dropped publisher: the stream waits out its grace, then ends without ever transcoding.
    expect(
      await waitFor(() => proxy.proxy.live!.streams.every((s) => s.state === 'ended'), (GRACE_S + 5) * 1000),
    ).toBe(true);
    expect(liveChildCount()).toBe(0);
    expect(proxy.proxy.live!.stored).toHaveLength(0);
    expect((await fetch(`${proxy.url}/live/demo/ik-master.m3u8`)).status).toBe(404);
    expect((await fetch(`${proxy.url}/healthz`)).status).toBe(200);
  });

  test('a publisher that goes silent is dropped after the idle limit, then its stream ends', {
    timeout: 40_000,
  }, async () => {
    const { socket, answers } = await rawPublisher(port, KEY);
    expect(answers()).toContain('NetStream.Publish.Start');
    const at = Date.now();
    await new Promise<void>((resolve) => socket.once('close', () => resolve()));
    // The idle limit is 10 s (or five segments); then the grace.
    expect(Date.now() - at).toBeGreaterThan(9000);
    expect(Date.now() - at).toBeLessThan(13_000);
    expect(
      await waitFor(() => proxy.proxy.live!.streams.every((s) => s.state === 'ended'), (GRACE_S + 5) * 1000),
    ).toBe(true);
    nothingStarted();
  });

  test('a wrong key over a bare client gets an error status before anything starts', async () => {
    const { socket, answers } = await rawPublisher(port, 'not-the-key-at-all');
    expect(answers()).toContain('NetStream.Publish.Unauthorized');
    expect(answers()).not.toContain(KEY);
    await new Promise<void>((resolve) =>
      socket.destroyed ? resolve() : socket.once('close', () => resolve()),
    );
    nothingStarted();
  });

  test('a second publisher on a live key is refused; the first goes on', { timeout: 60_000 }, async () => {
    const first = publish(`rtmp://127.0.0.1:${port}/live/${KEY}`, { seconds: 6, size: '320x180' });
    expect(await waitFor(() => proxy.proxy.live!.streams.some((s) => s.state === 'live'), 10_000)).toBe(true);
    const second = publish(`rtmp://127.0.0.1:${port}/live/${KEY}`, { seconds: 5, size: '320x180' });
    expect((await second.exited).code).not.toBe(0);
    expect(proxy.proxy.live!.streams).toHaveLength(1);
    expect(proxy.proxy.live!.streams[0]!.state).toBe('live');
    expect((await first.exited).code).toBe(0);
    expect(await waitFor(() => proxy.proxy.live!.stored.length === 1, 30_000)).toBe(true);
    const metrics = await (await fetch(`${proxy.url}/metrics`)).text();
    expect(metrics).toMatch(/ikvp_live_refused_total\{reason="bad_key"\} 3/);
    expect(metrics).toMatch(/ikvp_live_refused_total\{reason="already_publishing"\} 1/);
    expect(metrics).toMatch(/ikvp_live_refused_total\{reason="timeout"\} 51/);
    // The two random-byte connections, and nothing for refused or published ones.
    expect(metrics).toMatch(/ikvp_live_refused_total\{reason="protocol"\} 2\n/);
  });
});
