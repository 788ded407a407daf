import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { NotFoundError, OriginError } from '../../src/errors.js';
import { CountingOrigin } from '../../src/origin/counting.js';
import { FsOrigin } from '../../src/origin/fs.js';
import type { Origin } from '../../src/origin/types.js';
import { collect, patternBytes } from './origin-contract.js';

describe('CountingOrigin', () => {
  let root: string;
  const body = patternBytes(200_000, 3);

  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'counting-origin-'));
    await writeFile(path.join(root, 'clip.mp4'), body);
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  test('counts every request and the bytes delivered, and resets', async () => {
    const origin = new CountingOrigin(new FsOrigin(root));
    expect(origin.kind).toBe('fs');
    await origin.stat('clip.mp4');
    await origin.ping();
    const part = await collect(await origin.read('clip.mp4', { start: 1000, end: 1999 }));
    expect(part.equals(body.subarray(1000, 2000))).toBe(true);
    expect(origin.stats()).toEqual({ requests: 3, bytes: 1000 });
    await collect(await origin.read('clip.mp4'));
    expect(origin.stats()).toEqual({ requests: 4, bytes: 201_000 });
    origin.reset();
    expect(origin.stats()).toEqual({ requests: 0, bytes: 0 });
  });

  test('a reader that stops early is charged only what reached it', async () => {
    const origin = new CountingOrigin(new FsOrigin(root));
    const stream = await origin.read('clip.mp4');
    const first = await new Promise<Buffer>((resolve) => stream.once('data', resolve));
    stream.destroy();
    await new Promise((resolve) => stream.once('close', resolve));
    expect(origin.stats().bytes).toBeGreaterThanOrEqual(first.length);
    expect(origin.stats().bytes).toBeLessThan(body.length);
  });

  test('failures pass through unchanged and still count as requests', async () => {
    const origin = new CountingOrigin(new FsOrigin(root));
    await expect(origin.stat('missing.mp4')).rejects.toBeInstanceOf(NotFoundError);
    await expect(origin.read('missing.mp4')).rejects.toBeInstanceOf(NotFoundError);
    expect(origin.stats()).toEqual({ requests: 2, bytes: 0 });
  });

  test('a stream error from the inner origin reaches the reader', async () => {
    const failing: Origin = {
      kind: 'fake',
      stat: async () => ({ size: 10, version: 'v' }),
      ping: async () => undefined,
      async read(): Promise<Readable> {
        const stream = new PassThrough();
        stream.write(Buffer.alloc(4));
        setImmediate(() => stream.destroy(new OriginError('cut')));
        return stream;
      },
    };
    const origin = new CountingOrigin(failing);
    const error = await collect(await origin.read('x')).catch((e) => e);
    expect(error).toBeInstanceOf(OriginError);
    expect(origin.stats().bytes).toBe(4);
    expect(origin.list).toBeUndefined();
  });

  test('list is offered when the inner origin lists', async () => {
    const origin = new CountingOrigin(new FsOrigin(root));
    expect(await origin.list?.('', 10)).toEqual([{ path: 'clip.mp4', size: body.length }]);
    expect(origin.stats().requests).toBe(1);
  });
});
