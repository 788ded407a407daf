import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import ImageKit from 'imagekit';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ffprobeBytes } from '../support/ffprobe.js';
import { fixturePath } from '../support/fixtures.js';
import { startProxy, type TestProxy } from '../support/proxy.js';
import { waitFor } from '../support/wait.js';

const PRIVATE_KEY = 'post_transform_key';
const BASIC = `Basic ${Buffer.from(`${PRIVATE_KEY}:`).toString('base64')}`;

describe('post transformations and the webhook', () => {
  let root: string;
  let proxy: TestProxy;
  let hook: Server;
  let hookUrl: string;
  const signed: Array<{ body: string; signature: string }> = [];
  const events: Array<{
    type: string;
    data: { fileId: string; transformation: { type: string; url: string } };
  }> = [];

  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'api-post-'));
    hook = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => {
        body += chunk;
      });
      req.on('end', () => {
        events.push(JSON.parse(body));
        signed.push({ body, signature: String(req.headers['x-ik-signature'] ?? '') });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', () => resolve()));
    hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`;
    // The webhook receiver is on loopback, allowed here as the HTTP origin's tests allow it.
    proxy = await startProxy({ ORIGIN: root, API_PRIVATE_KEY: PRIVATE_KEY, ALLOW_PRIVATE_ORIGINS: 'true' });
  });
  afterAll(async () => {
    await proxy?.close();
    hook?.close();
    await rm(root, { recursive: true, force: true });
  });

  test('thumbnail and HLS are made in the background; the webhook hears of each; viewers then hit the cache', async () => {
    const form = new FormData();
    form.append('file', new Blob([await readFile(fixturePath('sample.mp4'))]), 'clip.mp4');
    form.append('fileName', 'clip.mp4');
    form.append(
      'transformation',
      JSON.stringify({
        post: [
          { type: 'thumbnail', value: 'w-120' },
          { type: 'abs', value: 'sr-240', protocol: 'hls' },
          { type: 'abs', value: 'sr-360', protocol: 'dash' },
        ],
      }),
    );
    form.append('webhookUrl', hookUrl);
    const response = await fetch(`${proxy.url}/api/v1/files/upload`, {
      method: 'POST',
      body: form,
      headers: { Authorization: BASIC },
    });
    expect(response.status).toBe(200);
    const uploaded = (await response.json()) as { fileId: string; url: string };
    expect(await waitFor(() => events.length >= 3, 90_000)).toBe(true);
    expect(events.map((event) => event.type)).toEqual([
      'upload.post-transform.success',
      'upload.post-transform.success',
      'upload.post-transform.success',
    ]);
    expect(events.every((event) => event.data.fileId === uploaded.fileId)).toBe(true);
    // Signed as ImageKit signs webhooks: the imagekit SDK's own check accepts them.
    const imagekit = new ImageKit({ publicKey: 'pk', privateKey: PRIVATE_KEY, urlEndpoint: proxy.url });
    for (const { body, signature } of signed) {
      expect(imagekit.verifyWebhookEvent(body, signature, PRIVATE_KEY).event).toEqual(JSON.parse(body));
      expect(() => imagekit.verifyWebhookEvent(body, signature, 'another_secret')).toThrow();
    }
    expect(events[0]!.data.transformation.url).toBe(`${uploaded.url}/ik-thumbnail.jpg?tr=w-120`);

    const thumbnail = await fetch(`${uploaded.url}/ik-thumbnail.jpg?tr=w-120`);
    expect(thumbnail.status).toBe(200);
    expect(thumbnail.headers.get('x-cache')).toMatch(/^HIT/);
    const master = await fetch(`${uploaded.url}/ik-master.m3u8?tr=sr-240`);
    expect(master.headers.get('x-cache')).toMatch(/^HIT/);
    const variant = (await master.text()).split('\n').find((line) => line && !line.startsWith('#'))!;
    const media = await fetch(new URL(variant, master.url));
    const segment = (await media.text()).split('\n').find((line) => line && !line.startsWith('#'))!;
    const first = await fetch(new URL(segment, media.url));
    expect(first.status).toBe(200);
    expect(first.headers.get('x-cache')).toMatch(/^HIT/);
    // DASH: the manifest and the segments it names (shared CMAF segments) are made too.
    const mpd = await fetch(`${uploaded.url}/ik-master.mpd?tr=sr-360`);
    expect(mpd.headers.get('x-cache')).toMatch(/^HIT/);
    const template = await mpd.text();
    const dashMedia = /media="([^"]+)"/
      .exec(template)![1]!
      .replace('$RepresentationID$', '360')
      .replace('$Number$', '1');
    const dashSegment = await fetch(new URL(dashMedia, mpd.url));
    expect(dashSegment.status).toBe(200);
    expect(dashSegment.headers.get('x-cache')).toMatch(/^HIT/);
  }, 90_000);

  test('a pre transformation is applied before storing: the stored file is the transformed one', async () => {
    const form = new FormData();
    form.append('file', new Blob([await readFile(fixturePath('sample.mp4'))]), 'clip.mp4');
    form.append('fileName', 'small.mp4');
    form.append('useUniqueFileName', 'false');
    form.append('transformation', JSON.stringify({ pre: 'w-160,du-2' }));
    const response = await fetch(`${proxy.url}/api/v1/files/upload`, {
      method: 'POST',
      body: form,
      headers: { Authorization: BASIC },
    });
    expect(response.status).toBe(200);
    const uploaded = (await response.json()) as {
      url: string;
      width: number;
      duration: number;
      size: number;
    };
    expect(uploaded.width).toBe(160);
    expect(uploaded.duration).toBeLessThan(2.5);
    const stored = Buffer.from(await (await fetch(uploaded.url)).arrayBuffer());
    expect(stored.length).toBe(uploaded.size);
    const probed = await ffprobeBytes(stored, 'mp4');
    expect(probed.streams.find((stream) => stream.codec_type === 'video')?.width).toBe(160);
    for (const [pre, field] of [
      ['w-abc', 'transformation.pre'],
      ['sr-240', 'transformation.pre'],
    ]) {
      const bad = new FormData();
      bad.append('file', new Blob([await readFile(fixturePath('no-audio.mp4'))]), 'clip.mp4');
      bad.append('fileName', 'bad-pre.mp4');
      bad.append('transformation', JSON.stringify({ pre }));
      const refused = await fetch(`${proxy.url}/api/v1/files/upload`, {
        method: 'POST',
        body: bad,
        headers: { Authorization: BASIC },
      });
      expect(refused.status).toBe(400);
      expect(((await refused.json()) as { message: string }).message).toContain(`'${field}'`);
    }
  }, 60_000);

  test('a bad post transformation is a 400 naming it, before anything is stored', async () => {
    const form = new FormData();
    form.append('file', new Blob([await readFile(fixturePath('no-audio.mp4'))]), 'clip.mp4');
    form.append('fileName', 'bad-post.mp4');
    form.append('useUniqueFileName', 'false');
    form.append('transformation', JSON.stringify({ post: [{ type: 'transformation', value: 'w-abc' }] }));
    const response = await fetch(`${proxy.url}/api/v1/files/upload`, {
      method: 'POST',
      body: form,
      headers: { Authorization: BASIC },
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { message: string }).message).toContain(
      "'transformation.post[0].value'",
    );
    expect((await fetch(`${proxy.url}/bad-post.mp4`)).status).toBe(404);
  });
});
