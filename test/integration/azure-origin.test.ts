import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestAzurite, type TestAzurite } from '../support/azurite.js';
import { ffprobeBytes } from '../support/ffprobe.js';
import { fixturePath } from '../support/fixtures.js';
import { startProxy, type TestProxy } from '../support/proxy.js';
import { waitFor } from '../support/wait.js';
import { expectJsonError, fetchBytes } from './helpers.js';

/**
 * The proxy end to end with ORIGIN=azure:// and RESULT_BUCKET=azure:// against Azurite: outputs
 * made from a blob, a missing blob is a 404, and an output made by one node is found by another
 * in the shared Azure tier (`X-Cache: HIT-AZURE`).
 */

let azurite: TestAzurite;
const proxies: TestProxy[] = [];

function env(): Record<string, string> {
  return {
    ...azurite.env,
    ORIGIN: 'azure://media/videos',
    RESULT_BUCKET: 'azure://results/fleet',
  };
}

beforeAll(async () => {
  azurite = await startTestAzurite();
  await azurite.createContainer('media');
  await azurite.createContainer('results');
  await azurite.putBlob(
    'media',
    'videos/clips/sample.mp4',
    await readFile(fixturePath('sample.mp4')),
    'video/mp4',
  );
});

afterAll(async () => {
  for (const proxy of proxies) await proxy.close();
  await azurite?.close();
});

describe('ORIGIN=azure:// end to end (Azurite)', () => {
  test('a thumbnail and a transform of a blob decode; a missing blob is a 404', async () => {
    const proxy = await startProxy(env());
    proxies.push(proxy);
    expect((await fetchBytes(`${proxy.url}/readyz`)).status).toBe(200);

    const thumbnail = await fetchBytes(`${proxy.url}/clips/sample.mp4/ik-thumbnail.jpg?tr=w-160,so-1`);
    expect(thumbnail.status).toBe(200);
    const image = await sharp(thumbnail.body).metadata();
    expect([image.format, image.width]).toEqual(['jpeg', 160]);

    const video = await fetchBytes(`${proxy.url}/clips/sample.mp4?tr=w-320,du-2`);
    expect(video.status).toBe(200);
    const probed = await ffprobeBytes(video.body, 'mp4');
    expect(probed.streams.find((stream) => stream.codec_type === 'video')?.width).toBe(320);

    const missing = await fetchBytes(`${proxy.url}/clips/none.mp4/ik-thumbnail.jpg`);
    expectJsonError(missing, 404);
  });

  test('RESULT_BUCKET=azure://: what one node made, another serves as HIT-AZURE', async () => {
    const [first, second] = [await startProxy(env()), await startProxy(env())];
    proxies.push(first, second);
    const url = '/clips/sample.mp4/ik-thumbnail.jpg?tr=w-200,so-2';
    // The shared tier is written in the background after the answer: wait for the blob, so the
    // second node does not make its own copy first.
    const results = azurite.client.getContainerClient('results');
    const stored = async () => {
      let count = 0;
      for await (const _ of results.listBlobsFlat({ prefix: 'fleet/' })) count++;
      return count;
    };
    const before = await stored();
    const made = await fetchBytes(`${first.url}${url}`);
    expect(made.status).toBe(200);
    expect(made.headers.get('x-cache')).toMatch(/^MISS/);
    expect(await waitFor(async () => (await stored()) > before, 10_000)).toBe(true);
    const shared = await fetchBytes(`${second.url}${url}`);
    expect(shared.headers.get('x-cache')).toBe('HIT-AZURE');
    expect(shared.body.equals(made.body)).toBe(true);
  });
});
