import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ConflictError, NotFoundError } from '../../src/errors.js';
import { RESERVED_FOLDER, type WritableOrigin } from '../../src/origin/types.js';
import { collect, patternBytes } from './origin-contract.js';

/** A writable origin under test and a way to see what a failed write may have left behind. */
export interface WritableOriginFixture {
  origin: WritableOrigin;
  /**
   * Everything a write in progress may leave: staging objects and temp files, and (S3) multipart
   * uploads neither completed nor aborted. Empty after every failed or discarded write.
   */
  leftovers(): Promise<string[]>;
  /** Whether two conditional creates racing each other are decided by the backend itself. */
  atomicCreate: boolean;
  teardown(): Promise<void>;
}

/** A body that yields `bytes` in 64 KiB chunks and then fails with `error` (a client that left). */
export function failingBody(bytes: Buffer, error = new Error('client went away')): Readable {
  async function* chunks(): AsyncGenerator<Buffer> {
    for (let at = 0; at < bytes.length; at += 64 * 1024) {
      yield bytes.subarray(at, at + 64 * 1024);
      await new Promise((resolve) => setImmediate(resolve));
    }
    throw error;
  }
  return Readable.from(chunks(), { objectMode: false });
}

/** A body that yields `bytes` and then never ends (until destroyed). */
function stallingBody(bytes: Buffer): Readable {
  const body = new Readable({ read() {} });
  body.push(bytes);
  return body;
}

/**
 * The behaviour every writable origin shares (folder, S3, and Azure through the same interface):
 * two-phase writes that are invisible until committed, nothing left behind by a failed or
 * cancelled write, conditional creates, deletes, paged listings that never show the reserved
 * folder, and records that the read side never serves.
 */
export function writableOriginContract(name: string, setup: () => Promise<WritableOriginFixture>): void {
  describe(`Writable origin contract: ${name}`, () => {
    let fixture: WritableOriginFixture;
    let origin: WritableOrigin;

    beforeAll(async () => {
      fixture = await setup();
      origin = fixture.origin;
    });
    afterAll(async () => {
      await fixture?.teardown();
    });

    test('put stores the bytes, readable at once with the version stat reports', async () => {
      const body = patternBytes(300_000, 11);
      const written = await origin.writer.put('up/clip.mp4', Readable.from([body]), {
        contentType: 'video/mp4',
      });
      expect(written.path).toBe('up/clip.mp4');
      expect(written.size).toBe(body.length);
      const stat = await origin.stat('up/clip.mp4');
      expect(stat.size).toBe(body.length);
      expect(stat.version).toBe(written.version);
      expect((await collect(await origin.read('up/clip.mp4'))).equals(body)).toBe(true);
      expect(await fixture.leftovers()).toEqual([]);
    });

    test('a staged object is invisible until committed, readable by id through `staged`', async () => {
      const body = patternBytes(70_000, 12);
      const staged = await origin.writer.stage(Readable.from([body]), { contentType: 'video/webm' });
      expect(staged.size).toBe(body.length);
      await expect(origin.stat('staged/one.webm')).rejects.toBeInstanceOf(NotFoundError);
      const head = await collect(await origin.writer.staged.read(staged.id, { start: 0, end: 99 }));
      expect(head.equals(body.subarray(0, 100))).toBe(true);
      expect((await origin.writer.staged.stat(staged.id)).size).toBe(body.length);
      const listed = await origin.writer.listObjects('', { limit: 1000 });
      expect(listed.items.map((item) => item.path)).not.toContain('staged/one.webm');
      await origin.writer.commit(staged, 'staged/one.webm');
      expect((await collect(await origin.read('staged/one.webm'))).equals(body)).toBe(true);
      expect(await fixture.leftovers()).toEqual([]);
    });

    test('sweepStaging, when offered, removes staged leftovers past the age given', async (context) => {
      if (!origin.writer.sweepStaging) {
        context.skip();
        return;
      }
      await origin.writer.stage(Readable.from([patternBytes(1000)]));
      expect(await origin.writer.sweepStaging(3600_000)).toBe(0);
      // A negative age puts the cutoff in the future: everything staged counts as old.
      expect(await origin.writer.sweepStaging(-60_000)).toBeGreaterThanOrEqual(1);
      expect(await fixture.leftovers()).toEqual([]);
    });

    test('discard drops a staged object', async () => {
      const staged = await origin.writer.stage(Readable.from([patternBytes(1000)]));
      await origin.writer.discard(staged);
      await origin.writer.discard(staged);
      expect(await fixture.leftovers()).toEqual([]);
    });

    test('a body that fails halfway rejects the write and leaves nothing behind', async () => {
      const error = await origin.writer
        .put('broken/half.mp4', failingBody(patternBytes(200_000, 3)))
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Error);
      await expect(origin.stat('broken/half.mp4')).rejects.toBeInstanceOf(NotFoundError);
      expect(await fixture.leftovers()).toEqual([]);
    });

    test('a body that fails after several multipart parts leaves no part behind', async () => {
      // 20 MiB: past several 5 MiB parts, so a multipart upload exists when the body fails.
      const error = await origin.writer
        .stage(failingBody(patternBytes(20 * 1024 * 1024, 5)))
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Error);
      expect(await fixture.leftovers()).toEqual([]);
    }, 30_000);

    test('a cancelled write (signal) stops a stalled body and leaves nothing behind', async () => {
      const controller = new AbortController();
      const pending = origin.writer.stage(stallingBody(patternBytes(50_000)), { signal: controller.signal });
      setTimeout(() => controller.abort(new Error('caller gave up')), 100);
      await expect(pending).rejects.toThrow('caller gave up');
      expect(await fixture.leftovers()).toEqual([]);
    });

    test('a large body round-trips (several parts)', async () => {
      const body = patternBytes(17 * 1024 * 1024 + 123, 9);
      const written = await origin.writer.put('big/large.mp4', Readable.from([body]));
      expect(written.size).toBe(body.length);
      const tail = await collect(
        await origin.read('big/large.mp4', { start: body.length - 1000, end: body.length - 1 }),
      );
      expect(tail.equals(body.subarray(body.length - 1000))).toBe(true);
      expect(await fixture.leftovers()).toEqual([]);
    }, 30_000);

    test('overwrite replaces the bytes and changes the version; ifAbsent refuses with ConflictError', async () => {
      const first = await origin.writer.put('over/a.mp4', Readable.from([patternBytes(5000, 1)]));
      const second = await origin.writer.put('over/a.mp4', Readable.from([patternBytes(6000, 2)]));
      expect(second.version).not.toBe(first.version);
      expect((await origin.stat('over/a.mp4')).size).toBe(6000);
      const error = await origin.writer
        .put('over/a.mp4', Readable.from([patternBytes(7000, 3)]), { ifAbsent: true })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConflictError);
      expect((await origin.stat('over/a.mp4')).size).toBe(6000);
      expect(await fixture.leftovers()).toEqual([]);
    });

    test('delete removes an object once', async () => {
      await origin.writer.put('gone/x.mp4', Readable.from([patternBytes(100)]));
      expect(await origin.writer.delete('gone/x.mp4')).toBe(true);
      expect(await origin.writer.delete('gone/x.mp4')).toBe(false);
      await expect(origin.stat('gone/x.mp4')).rejects.toBeInstanceOf(NotFoundError);
    });

    test.each([
      '../escape.mp4',
      'a/../../b.mp4',
      '.env',
      'a/.hidden.mp4',
      `${RESERVED_FOLDER}/records/x`,
      'a\0b.mp4',
    ])('a write to %j is refused and stores nothing', async (path) => {
      await expect(origin.writer.put(path, Readable.from([patternBytes(10)]))).rejects.toBeInstanceOf(
        NotFoundError,
      );
      expect(await fixture.leftovers()).toEqual([]);
    });

    test('listObjects pages in path order and never shows the reserved folder', async () => {
      for (const name of ['c.mp4', 'a.mp4', 'sub/b.mp4', 'd e.mp4']) {
        await origin.writer.put(`list/${name}`, Readable.from([patternBytes(10)]));
      }
      await origin.writer.records.put('list/record.json', Buffer.from('{}'));
      const seen: string[] = [];
      let cursor: string | undefined;
      for (let round = 0; round < 10; round++) {
        const page = await origin.writer.listObjects('list', { limit: 2, cursor });
        seen.push(...page.items.map((item) => item.path));
        expect(page.items.every((item) => item.size === 10)).toBe(true);
        cursor = page.cursor;
        if (!cursor) break;
      }
      expect(seen).toEqual(['list/a.mp4', 'list/c.mp4', 'list/d e.mp4', 'list/sub/b.mp4']);
      const all = await origin.writer.listObjects('', { limit: 10_000 });
      expect(all.items.some((item) => item.path.startsWith('.'))).toBe(false);
    });

    test('records: get, put, conditional create, delete and paged list', async () => {
      const { records } = origin.writer;
      expect(await records.get('files/none.json')).toBeUndefined();
      expect(await records.put('files/a b/one.json', Buffer.from('{"n":1}'))).toBe(true);
      expect((await records.get('files/a b/one.json'))?.toString()).toBe('{"n":1}');
      expect(await records.put('files/a b/one.json', Buffer.from('{"n":2}'))).toBe(true);
      expect((await records.get('files/a b/one.json'))?.toString()).toBe('{"n":2}');
      expect(await records.put('tokens/t1', Buffer.from('1'), { ifAbsent: true })).toBe(true);
      expect(await records.put('tokens/t1', Buffer.from('2'), { ifAbsent: true })).toBe(false);
      expect((await records.get('tokens/t1'))?.toString()).toBe('1');
      await records.put('files/z.json', Buffer.from('{}'));
      await records.put('files/a b/two.json', Buffer.from('{}'));
      const first = await records.list('files', { limit: 2 });
      expect(first.keys).toEqual(['files/a b/one.json', 'files/a b/two.json']);
      const second = await records.list('files', { limit: 2, cursor: first.cursor });
      expect(second.keys).toEqual(['files/z.json']);
      expect(second.cursor).toBeUndefined();
      await records.delete('files/z.json');
      await records.delete('files/z.json');
      expect(await records.get('files/z.json')).toBeUndefined();
    });

    test('conditional creates racing each other: exactly one wins', async (context) => {
      if (!fixture.atomicCreate) {
        context.skip();
        return;
      }
      const results = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          origin.writer.records.put('tokens/race', Buffer.from(String(i)), { ifAbsent: true }),
        ),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    test('the read side never serves the reserved folder', async () => {
      await origin.writer.records.put('files/secret.json', Buffer.from('{"private":true}'));
      for (const path of [
        `${RESERVED_FOLDER}/records/files/secret.json`,
        `/${RESERVED_FOLDER}/records/files/secret.json`,
      ]) {
        await expect(origin.stat(path)).rejects.toBeInstanceOf(NotFoundError);
        await expect(origin.read(path)).rejects.toBeInstanceOf(NotFoundError);
      }
    });
  });
}
