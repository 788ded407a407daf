import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { signPath } from '../../src/url/signature.js';
import { fixturePath } from '../support/fixtures.js';
import { startProxy, type TestProxy } from '../support/proxy.js';

const PRIVATE_KEY = 'private_files_key';
const BASIC = `Basic ${Buffer.from(`${PRIVATE_KEY}:do_not_set`).toString('base64')}`;

async function upload(
  url: string,
  fields: Record<string, string>,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const form = new FormData();
  form.append('file', new Blob([await readFile(fixturePath('no-audio.mp4'))]), 'clip.mp4');
  for (const [key, value] of Object.entries(fields)) form.append(key, value);
  const response = await fetch(`${url}/api/v1/files/upload`, {
    method: 'POST',
    body: form,
    headers: { Authorization: BASIC },
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('isPrivateFile', () => {
  let root: string;
  let proxy: TestProxy;
  let unsignedProxy: TestProxy;

  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'api-private-'));
    proxy = await startProxy({ ORIGIN: root, API_PRIVATE_KEY: PRIVATE_KEY, SIGNING_KEY: 'signing_secret' });
    unsignedProxy = await startProxy({ ORIGIN: root, API_PRIVATE_KEY: PRIVATE_KEY });
  });
  afterAll(async () => {
    await proxy?.close();
    await unsignedProxy?.close();
    await rm(root, { recursive: true, force: true });
  });

  test('a private file is delivered only on a signed URL; a public one as usual', async () => {
    const privateFile = await upload(proxy.url, { fileName: 'secret.mp4', isPrivateFile: 'true' });
    expect(privateFile.status).toBe(200);
    expect(privateFile.body.isPrivateFile).toBe(true);
    const publicFile = await upload(proxy.url, { fileName: 'open.mp4' });
    const unsigned = await fetch(`${privateFile.body.url}/ik-thumbnail.jpg`);
    expect(unsigned.status).toBe(401);
    expect((await fetch(privateFile.body.url as string)).status).toBe(401);
    const pathname = new URL(privateFile.body.url as string).pathname;
    const signed = await fetch(`${proxy.url}${signPath(`${pathname}/ik-thumbnail.jpg`, 'signing_secret')}`);
    expect(signed.status).toBe(200);
    expect(signed.headers.get('content-type')).toBe('image/jpeg');
    expect((await fetch(`${publicFile.body.url}/ik-thumbnail.jpg`)).status).toBe(200);
  });

  test('without SIGNING_KEY a private upload is a 400 naming isPrivateFile', async () => {
    const answer = await upload(unsignedProxy.url, { fileName: 'x.mp4', isPrivateFile: 'true' });
    expect(answer.status).toBe(400);
    expect(answer.body.message).toContain("'isPrivateFile'");
  });
});

describe('overwriting a file', () => {
  let root: string;
  let proxy: TestProxy;

  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'api-overwrite-'));
    proxy = await startProxy({ ORIGIN: root, API_PRIVATE_KEY: PRIVATE_KEY });
  });
  afterAll(async () => {
    await proxy?.close();
    await rm(root, { recursive: true, force: true });
  });

  async function uploadFile(fixture: string, fields: Record<string, string>) {
    const form = new FormData();
    form.append('file', new Blob([await readFile(fixturePath(fixture))]), 'clip');
    for (const [key, value] of Object.entries(fields)) form.append(key, value);
    const response = await fetch(`${proxy.url}/api/v1/files/upload`, {
      method: 'POST',
      body: form,
      headers: { Authorization: BASIC },
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  test('a new version replaces what viewers get at once; overwriteFile=false is a 409', async () => {
    const first = await uploadFile('sample.mp4', { fileName: 'same.mp4', useUniqueFileName: 'false' });
    expect(first.status).toBe(200);
    const before = await fetch(`${first.body.url}/ik-metadata.json`);
    const beforeMeta = (await before.json()) as { width: number };
    const again = await fetch(`${first.body.url}/ik-metadata.json`);
    expect(again.headers.get('x-cache')).toMatch(/^HIT/);

    const second = await uploadFile('portrait.mp4', { fileName: 'same.mp4', useUniqueFileName: 'false' });
    expect(second.status).toBe(200);
    expect(second.body.fileId).toBe(first.body.fileId);
    expect(second.body.versionInfo).toMatchObject({ name: 'Version 2' });
    expect(second.body.createdAt).toBe(first.body.createdAt);
    const after = (await (await fetch(`${first.body.url}/ik-metadata.json`)).json()) as { width: number };
    expect(after.width).toBe(second.body.width);
    expect(after.width).not.toBe(beforeMeta.width);

    const refused = await uploadFile('no-audio.mp4', {
      fileName: 'same.mp4',
      useUniqueFileName: 'false',
      overwriteFile: 'false',
    });
    expect(refused.status).toBe(409);
    expect(
      (await (await fetch(`${first.body.url}/ik-metadata.json`)).json()) as { width: number },
    ).toMatchObject({
      width: second.body.width,
    });
  });
});
