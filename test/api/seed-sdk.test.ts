import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import ImageKit from 'imagekit';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ffprobeBytes } from '../support/ffprobe.js';
import { fixturePath } from '../support/fixtures.js';
import { startProxy, type TestProxy } from '../support/proxy.js';

const PRIVATE_KEY = 'private_test_key_1';
const PUBLIC_KEY = 'public_test_key';

/** Every file under `root` (relative paths), the reserved folder's records excluded. */
async function stored(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(root, path.join(entry.parentPath, entry.name)))
    .filter((file) => !file.startsWith('.ik-proxy/records/'))
    .sort();
}

describe('the seed snippet with the imagekit v6 SDK', () => {
  let root: string;
  let proxy: TestProxy;

  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'api-seed-'));
    proxy = await startProxy({ ORIGIN: root, API_PRIVATE_KEY: PRIVATE_KEY, API_PUBLIC_KEY: PUBLIC_KEY });
  });
  afterAll(async () => {
    await proxy?.close();
    await rm(root, { recursive: true, force: true });
  });

  test('upload() returns a url whose thumbnail and HLS work at once', async () => {
    const imagekit = new ImageKit({
      publicKey: PUBLIC_KEY,
      privateKey: PRIVATE_KEY,
      urlEndpoint: proxy.url,
      uploadEndpoint: `${proxy.url}/api/v1/files/upload`,
    });
    const file = await readFile(fixturePath('sample.mp4'));
    const result = (await imagekit.upload({
      file,
      fileName: 'sweater.mp4',
      tags: ['tag1', 'tag2'],
      folder: 'videos',
    })) as unknown as Record<string, unknown> & { name: string; url: string; thumbnailUrl: string };
    expect(result.name).toMatch(/^sweater_[A-Za-z0-9_-]{4,}\.mp4$/);
    expect(result.filePath).toBe(`/videos/${result.name}`);
    expect(result.url).toBe(`${proxy.url}/videos/${result.name}`);
    expect(result.thumbnailUrl).toBe(`${result.url}/ik-thumbnail.jpg`);
    expect(result.tags).toEqual(['tag1', 'tag2']);
    expect(result.size).toBe(file.length);
    expect(result.fileType).toBe('non-image');
    expect(result.width).toBeGreaterThan(0);
    expect(result.height).toBeGreaterThan(0);
    expect(result.duration).toBeGreaterThan(1);
    expect(result.videoCodec).toBe('h264');
    expect(result.audioCodec).toBe('aac');
    expect(result.bitRate).toBeGreaterThan(0);
    expect(result.versionInfo).toEqual({ id: expect.any(String), name: 'Version 1' });
    expect(typeof result.fileId).toBe('string');

    // The bytes are stored once, nothing is left in staging.
    expect(await stored(root)).toEqual([`videos/${result.name}`]);

    const thumbnail = await fetch(`${result.thumbnailUrl}?tr=w-160`);
    expect(thumbnail.status).toBe(200);
    const meta = await sharp(Buffer.from(await thumbnail.arrayBuffer())).metadata();
    expect(meta.format).toBe('jpeg');
    expect(meta.width).toBe(160);

    const master = await fetch(`${result.url}/ik-master.m3u8?tr=sr-240`);
    expect(master.status).toBe(200);
    const playlist = await master.text();
    expect(playlist).toContain('#EXTM3U');
    const variant = playlist.split('\n').find((line) => line && !line.startsWith('#'))!;
    const variantUrl = new URL(variant, master.url);
    const media = await (await fetch(variantUrl)).text();
    const init = /#EXT-X-MAP:URI="([^"]+)"/.exec(media)?.[1];
    const segment = media.split('\n').find((line) => line && !line.startsWith('#'))!;
    const parts: Buffer[] = [];
    for (const part of [init, segment].filter((p): p is string => Boolean(p))) {
      const response = await fetch(new URL(part, variantUrl));
      expect(response.status).toBe(200);
      parts.push(Buffer.from(await response.arrayBuffer()));
    }
    const probed = await ffprobeBytes(Buffer.concat(parts), 'mp4');
    expect(probed.streams.some((stream) => stream.codec_type === 'video')).toBe(true);
  }, 60_000);

  test('a wrong private key is refused with ImageKit-style message, nothing stored', async () => {
    const before = await stored(root);
    const imagekit = new ImageKit({
      publicKey: PUBLIC_KEY,
      privateKey: 'wrong_key_xx',
      urlEndpoint: proxy.url,
      uploadEndpoint: `${proxy.url}/api/v1/files/upload`,
    });
    const error = await imagekit
      .upload({ file: await readFile(fixturePath('sample.mp4')), fileName: 'nope.mp4' })
      .catch((e: unknown) => e);
    expect((error as { message?: string }).message).toMatch(/invalid private API key/);
    expect((error as { $ResponseMetadata?: { statusCode: number } }).$ResponseMetadata?.statusCode).toBe(401);
    expect(await stored(root)).toEqual(before);
  });
});
