import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import ImageKit, { toFile } from '@imagekit/nodejs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { fixturePath } from '../support/fixtures.js';
import { startProxy, type TestProxy } from '../support/proxy.js';

const PRIVATE_KEY = 'base_path_key_1';

describe('the API under BASE_PATH, without a public key', () => {
  let root: string;
  let proxy: TestProxy;

  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'api-base-'));
    proxy = await startProxy({ ORIGIN: root, API_PRIVATE_KEY: PRIVATE_KEY, BASE_PATH: '/v' });
  });
  afterAll(async () => {
    await proxy?.close();
    await rm(root, { recursive: true, force: true });
  });

  test('an SDK whose baseURL ends with the base path uploads, lists and gets URLs under it', async () => {
    const client = new ImageKit({ privateKey: PRIVATE_KEY, baseURL: `${proxy.url}/v`, maxRetries: 0 });
    const uploaded = await client.files.upload({
      file: await toFile(await readFile(fixturePath('no-audio.mp4')), 'a.mp4'),
      fileName: 'a.mp4',
    });
    expect(uploaded.url).toMatch(new RegExp(`^${proxy.url}/v/a_[A-Za-z0-9_-]{6}\\.mp4$`));
    expect((await fetch(uploaded.url!)).status).toBe(200);
    expect(await client.assets.list()).toHaveLength(1);
    // Outside the base path there is no API.
    expect((await fetch(`${proxy.url}/api/v1/files/upload`, { method: 'POST' })).status).not.toBe(200);
  });

  test('with no API_PUBLIC_KEY a request without Basic auth is refused before its body is read', async () => {
    const form = new FormData();
    form.append('file', new Blob([Buffer.alloc(1024)]), 'x.mp4');
    form.append('fileName', 'x.mp4');
    form.append('token', 'abcdefgh-1234');
    const response = await fetch(`${proxy.url}/v/api/v1/files/upload`, { method: 'POST', body: form });
    expect(response.status).toBe(401);
    expect(response.headers.get('connection')).toBe('close');
    expect(((await response.json()) as { message: string }).message).toMatch(/Missing credentials/);
  });
});
