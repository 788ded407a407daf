import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { NotFoundError, OriginError } from '../../src/errors.js';
import { FsOrigin } from '../../src/origin/fs.js';
import { collect, originContract, patternBytes } from './origin-contract.js';

async function tempDir(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), 'fs-origin-'));
}

originContract('fs', async () => {
  const root = await tempDir();
  return {
    origin: new FsOrigin(root),
    async put(relative, bytes) {
      const target = path.join(root, relative);
      await mkdir(path.dirname(target), { recursive: true });
      await writeFile(target, bytes);
    },
    async teardown() {
      await rm(root, { recursive: true, force: true });
    },
  };
});

describe('FsOrigin path guard', () => {
  let base: string;
  let root: string;
  let origin: FsOrigin;

  beforeAll(async () => {
    base = await tempDir();
    root = path.join(base, 'root');
    await mkdir(path.join(root, 'sub'), { recursive: true });
    await writeFile(path.join(root, 'inside.mp4'), 'inside');
    await writeFile(path.join(base, 'secret.mp4'), 'secret');
    await writeFile(path.join(base, 'root-sibling.mp4'), 'sibling');
    await mkdir(path.join(base, 'rootx'));
    await writeFile(path.join(base, 'rootx', 'a.mp4'), 'prefix twin');
    await symlink(path.join(base, 'secret.mp4'), path.join(root, 'link-out.mp4'));
    await symlink(base, path.join(root, 'dir-link-out'));
    await symlink(path.join(root, 'inside.mp4'), path.join(root, 'link-in.mp4'));
    await writeFile(path.join(root, '.env'), 'SECRET=1');
    await mkdir(path.join(root, '.private'));
    await writeFile(path.join(root, '.private', 'clip.mp4'), 'hidden');
    await symlink(path.join(root, '.env'), path.join(root, 'link-to-dotfile.mp4'));
    await symlink(path.join(root, '.private'), path.join(root, 'link-to-dot-folder'));
    origin = new FsOrigin(root);
  });
  afterAll(async () => {
    await rm(base, { recursive: true, force: true });
  });

  test.each([
    '../secret.mp4',
    'sub/../../secret.mp4',
    '/../secret.mp4',
    '../root-sibling.mp4',
    '../rootx/a.mp4',
    'link-out.mp4',
    'dir-link-out/secret.mp4',
    '.env',
    '.private/clip.mp4',
    'link-to-dotfile.mp4',
    'link-to-dot-folder/clip.mp4',
    'inside.mp4\0.png',
    '',
    'sub',
    'sub/',
  ])('%j is NotFoundError without reading outside the root', async (attempt) => {
    const statError = await origin.stat(attempt).catch((e) => e);
    expect(statError).toBeInstanceOf(NotFoundError);
    expect(statError.message).toBe('Source not found');
    await expect(origin.read(attempt)).rejects.toBeInstanceOf(NotFoundError);
  });

  test('a symlink that stays inside the root is served', async () => {
    const got = await collect(await origin.read('link-in.mp4'));
    expect(got.toString()).toBe('inside');
  });

  test('a leading slash is read relative to the root', async () => {
    expect((await origin.stat('/inside.mp4')).size).toBe(6);
  });

  test('listing does not follow symlinks out of the root', async () => {
    const entries = await origin.list('', 100);
    const paths = entries.map((entry) => entry.path);
    expect(paths).toContain('inside.mp4');
    expect(paths.some((p) => p.includes('secret'))).toBe(false);
    expect(paths).not.toContain('link-out.mp4');
  });

  test('a missing root fails ping with OriginError and stat without revealing paths', async () => {
    const missing = new FsOrigin(path.join(base, 'does-not-exist'));
    await expect(missing.ping()).rejects.toBeInstanceOf(OriginError);
    await expect(missing.stat('x.mp4')).rejects.toBeInstanceOf(OriginError);
  });

  test('a file that shrinks while being read errors the stream with OriginError', async () => {
    const file = path.join(root, 'shrinking.mp4');
    await writeFile(file, patternBytes(1_000_000));
    const stream = await origin.read('shrinking.mp4');
    await writeFile(file, patternBytes(10));
    const error = await collect(stream).catch((e) => e);
    expect(error).toBeInstanceOf(OriginError);
  });
});
