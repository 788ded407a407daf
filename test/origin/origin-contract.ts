import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { NotFoundError, RangeNotSatisfiableError } from '../../src/errors.js';
import type { Origin } from '../../src/origin/types.js';

/** A running origin under test and a way to place files in it. */
export interface OriginFixture {
  origin: Origin;
  /** Creates or replaces a source at `path` (relative to the origin root). */
  put(path: string, bytes: Buffer): Promise<void>;
  teardown(): Promise<void>;
}

/** Deterministic, non-repeating bytes so an off-by-one in a range shows up as a mismatch. */
export function patternBytes(length: number, seed = 1): Buffer {
  const out = Buffer.alloc(length);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    out[i] = state >>> 24;
  }
  return out;
}

/** Reads a stream to the end with a deadline, so a hung stream fails the test instead of stalling. */
export async function collect(stream: Readable, timeoutMs = 10_000): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const deadline = AbortSignal.timeout(timeoutMs);
  for await (const chunk of stream) {
    if (deadline.aborted) {
      stream.destroy();
      throw new Error('stream did not finish in time');
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/**
 * The behaviour every `Origin` adapter shares, run once per adapter so fs, S3 and HTTP cannot
 * drift apart: stat, versions, whole and ranged reads, missing sources, awkward names and ping.
 */
export function originContract(name: string, setup: () => Promise<OriginFixture>): void {
  describe(`Origin contract: ${name}`, () => {
    let fixture: OriginFixture;
    // Larger than one stream chunk (64 KiB) so ranges cross chunk boundaries.
    const body = patternBytes(300_000, 7);

    beforeAll(async () => {
      fixture = await setup();
      await fixture.put('clip.mp4', body);
    });
    afterAll(async () => {
      await fixture?.teardown();
    });

    test('stat reports size, a version and the content type', async () => {
      const stat = await fixture.origin.stat('clip.mp4');
      expect(stat.size).toBe(body.length);
      expect(typeof stat.version).toBe('string');
      expect(stat.version.length).toBeGreaterThan(0);
      expect(stat.contentType).toBe('video/mp4');
    });

    test('stat is stable while the content is unchanged', async () => {
      const first = await fixture.origin.stat('clip.mp4');
      const second = await fixture.origin.stat('clip.mp4');
      expect(second.version).toBe(first.version);
    });

    test('the version changes when the content changes', async () => {
      await fixture.put('changing.webm', patternBytes(5000, 1));
      const before = await fixture.origin.stat('changing.webm');
      await fixture.put('changing.webm', patternBytes(6000, 2));
      const resized = await fixture.origin.stat('changing.webm');
      expect(resized.size).toBe(6000);
      expect(resized.version).not.toBe(before.version);
      // Same size, different bytes: only the version can tell (mtime resolution needs a moment).
      await sleep(30);
      await fixture.put('changing.webm', patternBytes(6000, 3));
      const rewritten = await fixture.origin.stat('changing.webm');
      expect(rewritten.size).toBe(6000);
      expect(rewritten.version).not.toBe(resized.version);
    });

    test('a whole read returns every byte', async () => {
      const got = await collect(await fixture.origin.read('clip.mp4'));
      expect(got.length).toBe(body.length);
      expect(got.equals(body)).toBe(true);
    });

    test.each([
      ['the start', 0, 99],
      ['the middle, across chunk boundaries', 65_000, 200_123],
      ['the last byte', 299_999, 299_999],
      ['a single byte', 12_345, 12_345],
      ['everything', 0, 299_999],
    ])('a ranged read of %s returns exactly those bytes', async (_label, start, end) => {
      const got = await collect(await fixture.origin.read('clip.mp4', { start, end }));
      expect(got.length).toBe(end - start + 1);
      expect(got.equals(body.subarray(start, end + 1))).toBe(true);
    });

    test('a range ending past the end is clamped to the source', async () => {
      const got = await collect(await fixture.origin.read('clip.mp4', { start: 299_990, end: 400_000 }));
      expect(got.equals(body.subarray(299_990))).toBe(true);
    });

    test('a range starting past the end is 416 with the size', async () => {
      const error = await fixture.origin.read('clip.mp4', { start: 300_000, end: 300_010 }).catch((e) => e);
      expect(error).toBeInstanceOf(RangeNotSatisfiableError);
      expect(error.status).toBe(416);
      expect(error.headers['Content-Range']).toBe('bytes */300000');
    });

    test('a reader can stop early without the origin hanging', async () => {
      const stream = await fixture.origin.read('clip.mp4');
      const first = await new Promise<Buffer>((resolve, reject) => {
        stream.once('data', resolve);
        stream.once('error', reject);
      });
      expect(first.length).toBeGreaterThan(0);
      stream.destroy();
      await new Promise((resolve) => stream.once('close', resolve));
      // The origin still serves afterwards.
      const got = await collect(await fixture.origin.read('clip.mp4', { start: 0, end: 9 }));
      expect(got.equals(body.subarray(0, 10))).toBe(true);
    });

    test('a missing source is NotFoundError (404) for stat and read', async () => {
      const statError = await fixture.origin.stat('no/such/file.mp4').catch((e) => e);
      expect(statError).toBeInstanceOf(NotFoundError);
      expect(statError.status).toBe(404);
      const readError = await fixture.origin.read('no-such-file.mp4', { start: 0, end: 0 }).catch((e) => e);
      expect(readError).toBeInstanceOf(NotFoundError);
      expect(readError.status).toBe(404);
    });

    test('dot segments are refused as missing', async () => {
      await expect(fixture.origin.stat('a/../clip.mp4')).rejects.toBeInstanceOf(NotFoundError);
      await expect(fixture.origin.stat('./clip.mp4')).rejects.toBeInstanceOf(NotFoundError);
    });

    test.each(['.env', 'a/.git/config', '.hidden/clip.mp4', 'a/.clip.mp4'])(
      'a dotfile %j that exists in the origin is never served: NotFoundError, like a missing source',
      async (path) => {
        await fixture.put(path, patternBytes(64, 3));
        for (const attempt of [path, `/${path}`]) {
          const statError = await fixture.origin.stat(attempt).catch((e) => e);
          expect(statError).toBeInstanceOf(NotFoundError);
          expect(statError.message).toBe('Source not found');
          await expect(fixture.origin.read(attempt)).rejects.toBeInstanceOf(NotFoundError);
          await expect(fixture.origin.read(attempt, { start: 0, end: 9 })).rejects.toBeInstanceOf(
            NotFoundError,
          );
        }
      },
    );

    test('nested paths work', async () => {
      const nested = patternBytes(1234, 9);
      await fixture.put('a/b/c/deep.mov', nested);
      const stat = await fixture.origin.stat('a/b/c/deep.mov');
      expect(stat.size).toBe(1234);
      expect(stat.contentType).toBe('video/quicktime');
      const got = await collect(await fixture.origin.read('a/b/c/deep.mov', { start: 1000, end: 1233 }));
      expect(got.equals(nested.subarray(1000))).toBe(true);
    });

    test.each([
      'my clips/holiday video.mp4',
      'été/café 🎬.webm',
      'odd/100% #1 ?x=y&z.mkv',
      'odd/plus+semi;colon,comma.ts',
    ])('awkward name %j round-trips', async (path) => {
      const bytes = patternBytes(777, path.length);
      await fixture.put(path, bytes);
      const stat = await fixture.origin.stat(path);
      expect(stat.size).toBe(777);
      const got = await collect(await fixture.origin.read(path));
      expect(got.equals(bytes)).toBe(true);
    });

    test('ping succeeds', async () => {
      await expect(fixture.origin.ping()).resolves.toBeUndefined();
    });

    test('an aborted signal stops a stat', async () => {
      const controller = new AbortController();
      controller.abort(new Error('caller gave up'));
      await expect(fixture.origin.stat('clip.mp4', controller.signal)).rejects.toThrow('caller gave up');
    });

    test('list, when offered, finds the sources under a folder', async (context) => {
      if (!fixture.origin.list) {
        context.skip();
        return;
      }
      await fixture.put('listing/one.mp4', patternBytes(10));
      await fixture.put('listing/sub/two.mp4', patternBytes(20));
      // Dotfiles are never served, so they are not listed either.
      await fixture.put('listing/.env', patternBytes(5));
      await fixture.put('listing/.git/config', patternBytes(5));
      const entries = await fixture.origin.list('listing', 10);
      expect(entries).toEqual([
        { path: 'listing/one.mp4', size: 10 },
        { path: 'listing/sub/two.mp4', size: 20 },
      ]);
      expect(await fixture.origin.list('listing/', 1)).toHaveLength(1);
    });
  });
}
