import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { signUploadToken } from '../../src/api/auth.js';
import { fixturePath } from '../support/fixtures.js';
import { ensureHostileCorpus } from '../support/hostile.js';
import { startProxy, type TestProxy } from '../support/proxy.js';
import { startTestS3, type TestS3 } from '../support/s3.js';
import { waitFor } from '../support/wait.js';

const PRIVATE_KEY = 'abuse_private_key';
const PUBLIC_KEY = 'abuse_public_key';
const MAX_BYTES = 30 * 1024 * 1024;
const BASIC = `Basic ${Buffer.from(`${PRIVATE_KEY}:`).toString('base64')}`;

interface Answer {
  status: number;
  headers: Headers;
  body: { message?: string; error?: { code: string; message: string } };
}

async function post(
  url: string,
  form: FormData,
  headers: Record<string, string> = { Authorization: BASIC },
): Promise<Answer> {
  const response = await fetch(`${url}/api/v1/files/upload`, { method: 'POST', body: form, headers });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : {} };
}

function form(fields: Record<string, string | Blob>, fileFirst = true): FormData {
  const data = new FormData();
  const entries = Object.entries(fields);
  const ordered = fileFirst
    ? [...entries.filter(([k]) => k === 'file'), ...entries.filter(([k]) => k !== 'file')]
    : [...entries.filter(([k]) => k !== 'file'), ...entries.filter(([k]) => k === 'file')];
  for (const [key, value] of ordered) {
    if (value instanceof Blob) data.append(key, value, 'upload.bin');
    else data.append(key, value);
  }
  return data;
}

describe('upload abuse: each refusal stores nothing and leaves no multipart upload', () => {
  let s3: TestS3;
  let proxy: TestProxy;
  let small: Blob;

  /** Keys in the bucket besides the proxy's records (tokens, file records). */
  async function storedKeys(): Promise<string[]> {
    const { Contents } = await s3.client.send(new ListObjectsV2Command({ Bucket: 'media' }));
    return (Contents ?? [])
      .map((item) => item.Key!)
      .filter((key) => !key.startsWith('abuse/.ik-proxy/records/'));
  }
  async function expectNothingStored(before: string[] = []): Promise<void> {
    expect(await storedKeys()).toEqual(before);
    expect(await s3.pendingUploads('media')).toEqual([]);
  }

  beforeAll(async () => {
    s3 = await startTestS3();
    await s3.createBucket('media');
    process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
    process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';
    proxy = await startProxy({
      ...s3.env,
      ORIGIN: 's3://media/abuse',
      API_PRIVATE_KEY: PRIVATE_KEY,
      API_PUBLIC_KEY: PUBLIC_KEY,
      UPLOAD_MAX_BYTES: String(MAX_BYTES),
      UPLOAD_CONCURRENCY: '2',
      UPLOAD_QUEUE: '2',
    });
    small = new Blob([await readFile(fixturePath('no-audio.mp4'))]);
  });
  afterAll(async () => {
    await proxy?.close();
    await s3?.close();
  });

  test('no credentials, or a wrong key: 401 with a top-level message', async () => {
    const none = await post(proxy.url, form({ file: small, fileName: 'a.mp4' }), {});
    expect(none.status).toBe(401);
    expect(none.body.message).toMatch(/Missing credentials/);
    expect(none.body.error?.code).toBe('unauthorized');
    const wrong = await post(proxy.url, form({ file: small, fileName: 'a.mp4' }), {
      Authorization: `Basic ${Buffer.from('nope_nope_nope:do_not_set').toString('base64')}`,
    });
    expect(wrong.status).toBe(401);
    await expectNothingStored();
  });

  test('token auth: a wrong, expired, too distant or reused signature is 401', async () => {
    const now = Math.floor(Date.now() / 1000);
    const tokenForm = (
      token: string,
      expire: number,
      signature = signUploadToken(PRIVATE_KEY, token, expire),
    ) =>
      form({
        file: small,
        fileName: 'token.mp4',
        publicKey: PUBLIC_KEY,
        token,
        expire: String(expire),
        signature,
      });
    const wrong = await post(proxy.url, tokenForm(randomUUID(), now + 600, 'a'.repeat(40)), {});
    expect(wrong.status).toBe(401);
    expect(wrong.body.message).toMatch(/Invalid signature/);
    const expired = await post(proxy.url, tokenForm(randomUUID(), now - 5), {});
    expect(expired.status).toBe(401);
    expect(expired.body.message).toMatch(/expired/);
    const distant = await post(proxy.url, tokenForm(randomUUID(), now + 7200), {});
    expect(distant.status).toBe(401);
    await expectNothingStored();
    const token = randomUUID();
    const first = await post(proxy.url, tokenForm(token, now + 600), {});
    expect(first.status).toBe(200);
    const after = await storedKeys();
    expect(after).toHaveLength(1);
    const again = await post(proxy.url, tokenForm(token, now + 600), {});
    expect(again.status).toBe(401);
    expect(again.body.message).toMatch(/already used/);
    await expectNothingStored(after);
    // Clean up the one accepted upload for the following tests.
    const fileId = (first.body as unknown as { fileId: string }).fileId;
    const byId = await fetch(`${proxy.url}/v1/files/${fileId}`, {
      method: 'DELETE',
      headers: { Authorization: BASIC },
    });
    expect(byId.status).toBe(204);
    await expectNothingStored();
  });

  test('a file over UPLOAD_MAX_BYTES is refused while it streams (413), not after', async () => {
    const boundary = 'x-boundary-413';
    const head = Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.mp4"\r\nContent-Type: video/mp4\r\n\r\n`,
    );
    const chunk = Buffer.alloc(1024 * 1024, 7);
    const { status, sent, body } = await new Promise<{ status: number; sent: number; body: string }>(
      (resolve, reject) => {
        let sent = 0;
        let answered = false;
        const req = request(`${proxy.url}/api/v1/files/upload`, {
          method: 'POST',
          headers: { Authorization: BASIC, 'Content-Type': `multipart/form-data; boundary=${boundary}` },
        });
        req.on('response', (res) => {
          answered = true;
          let text = '';
          res.on('data', (data) => {
            text += data;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, sent, body: text }));
        });
        req.on('error', (error) => {
          if (!answered) reject(error);
        });
        req.write(head);
        const pump = () => {
          // 200 MiB offered; the proxy must answer long before taking it all.
          while (!answered && sent < 200 * 1024 * 1024) {
            sent += chunk.length;
            if (!req.write(chunk)) {
              req.once('drain', pump);
              return;
            }
          }
          if (!answered) req.end(`\r\n--${boundary}--\r\n`);
        };
        pump();
      },
    );
    expect(status).toBe(413);
    expect(JSON.parse(body).message).toMatch(/UPLOAD_MAX_BYTES/);
    expect(sent).toBeLessThan(100 * 1024 * 1024);
    await expectNothingStored();
  }, 60_000);

  test('a client that disconnects halfway (after several multipart parts) leaves nothing', async () => {
    const boundary = 'x-boundary-gone';
    const req = request(`${proxy.url}/api/v1/files/upload`, {
      method: 'POST',
      headers: { Authorization: BASIC, 'Content-Type': `multipart/form-data; boundary=${boundary}` },
    });
    req.on('error', () => undefined);
    req.write(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="gone.mp4"\r\n\r\n`);
    const mp4 = await readFile(fixturePath('sample.mp4'));
    for (let sent = 0; sent < 20 * 1024 * 1024; sent += mp4.length) {
      if (!req.write(mp4)) await new Promise((resolve) => req.once('drain', resolve));
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    req.destroy();
    await waitFor(
      async () => (await s3.pendingUploads('media')).length === 0 && (await storedKeys()).length === 0,
      10_000,
    );
    await expectNothingStored();
  }, 60_000);

  test.each([
    ['fileName', '../escape.mp4'],
    ['fileName', 'a/b.mp4'],
    ['fileName', 'nul\u0000byte.mp4'],
    ['fileName', `${'x'.repeat(10 * 1024)}.mp4`],
    ['fileName', '.hidden.mp4'],
    ['folder', 'a/../../etc'],
    ['folder', '..'],
    ['folder', 'nul\u0000folder'],
    ['folder', 'y'.repeat(10 * 1024)],
    ['folder', '.ik-proxy/records'],
  ])('%s %j is a 400 naming the field', async (field, value) => {
    const fields: Record<string, string | Blob> = { file: small, fileName: 'ok.mp4' };
    fields[field] = value;
    const answer = await post(proxy.url, form(fields));
    expect(answer.status).toBe(400);
    expect(answer.body.message).toContain(`'${field}'`);
    await expectNothingStored();
  });

  test('a URL to a private address is a 400 naming file, and no connection is made', async () => {
    let connections = 0;
    const server: Server = createServer((_req, res) => res.end('x'));
    server.on('connection', () => {
      connections++;
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    try {
      const port = (server.address() as AddressInfo).port;
      for (const url of [
        `http://127.0.0.1:${port}/v.mp4`,
        `http://localhost:${port}/v.mp4`,
        'http://169.254.169.254/latest/meta-data',
      ]) {
        const answer = await post(proxy.url, form({ file: url, fileName: 'ssrf.mp4' }));
        expect(answer.status).toBe(400);
        expect(answer.body.message).toContain("'file'");
      }
      expect(connections).toBe(0);
    } finally {
      server.close();
    }
    await expectNothingStored();
  });

  test('a playlist disguised as .mp4, a text file and an empty file are refused (415)', async () => {
    for (const name of ['playlist-disguised.mp4', 'not-a-video.txt']) {
      const answer = await post(
        proxy.url,
        form({ file: new Blob([await readFile(fixturePath(name))]), fileName: 'x.mp4' }),
      );
      expect(answer.status).toBe(415);
    }
    const empty = await post(proxy.url, form({ file: new Blob([]), fileName: 'empty.mp4' }));
    expect(empty.status).toBe(415);
    await expectNothingStored();
  });

  test('the hostile corpus: the same 413/415/422 as delivery gives, decided before anything is visible', async () => {
    const corpus = await ensureHostileCorpus();
    const expected = { source_too_long: 422, source_too_many_pixels: 422, unreadable: 415 } as const;
    for (const entry of corpus) {
      if (entry.verdict === 'accepted') continue;
      const answer = await post(
        proxy.url,
        form({ file: new Blob([await readFile(entry.path)]), fileName: `${entry.name}.mp4` }),
      );
      expect([entry.name, answer.status]).toEqual([entry.name, expected[entry.verdict]]);
    }
    await expectNothingStored();
  }, 60_000);

  test('fields ImageKit has but this server does not implement are a 400 naming them', async () => {
    for (const [field, value] of [
      ['extensions', '[{"name":"google-auto-tagging"}]'],
      ['isPublished', 'false'],
      ['someUnknownField', '1'],
    ]) {
      const answer = await post(proxy.url, form({ file: small, fileName: 'x.mp4', [field!]: value! }));
      expect(answer.status).toBe(400);
      expect(answer.body.message).toContain(`'${field}'`);
    }
    await expectNothingStored();
  });

  test('100 uploads at once: bounded, 503 + Retry-After beyond the queue, nothing half-stored', async () => {
    const answers = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        post(proxy.url, form({ file: small, fileName: `many-${i}.mp4` })),
      ),
    );
    const statuses = answers.map((answer) => answer.status);
    expect(statuses.every((status) => status === 200 || status === 503)).toBe(true);
    const busy = answers.filter((answer) => answer.status === 503);
    expect(busy.length).toBeGreaterThan(0);
    expect(busy.every((answer) => Number(answer.headers.get('retry-after')) >= 1)).toBe(true);
    const ok = answers.filter((answer) => answer.status === 200).length;
    expect(ok).toBeGreaterThanOrEqual(2);
    expect(await storedKeys()).toHaveLength(ok);
    expect(await s3.pendingUploads('media')).toEqual([]);
    // Tidy up with one bulk delete per 100 ids.
    const ids = answers
      .filter((a) => a.status === 200)
      .map((a) => (a.body as unknown as { fileId: string }).fileId);
    const bulk = await fetch(`${proxy.url}/v1/files/batch/deleteByFileIds`, {
      method: 'POST',
      headers: { Authorization: BASIC, 'Content-Type': 'application/json' },
      body: JSON.stringify({ fileIds: ids }),
    });
    expect(bulk.status).toBe(200);
    await expectNothingStored();
  }, 60_000);

  test('a chunked JSON body that never ends is refused once past 1 MiB, not read to its end', async () => {
    const req = request(`${proxy.url}/v1/files/batch/deleteByFileIds`, {
      method: 'POST',
      headers: { Authorization: BASIC, 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' },
    });
    req.on('error', () => undefined);
    const answered = new Promise<{ status: number; body: string }>((resolve) =>
      req.on('response', (response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => {
          body += chunk.toString();
        });
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      }),
    );
    // 1.5 MiB, then the body stays open: only a server counting as it reads can answer.
    req.write(`{"fileIds":["${'a'.repeat(1.5 * 1024 * 1024)}`);
    const answer = await Promise.race([
      answered,
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 10_000)),
    ]);
    req.destroy();
    expect(answer?.status).toBe(400);
    expect(JSON.parse(answer!.body).message).toMatch(/over 1 MiB/);
  });

  test('the reserved folder is never served by delivery routes', async () => {
    const ok = await post(proxy.url, form({ file: small, fileName: 'kept.mp4', useUniqueFileName: 'false' }));
    expect(ok.status).toBe(200);
    // Where the upload's time went, for operators and the bench.
    expect(ok.headers.get('server-timing')).toMatch(/receive;dur=[\d.]+, probe;dur=[\d.]+, store;dur=[\d.]+/);
    for (const path of [
      '/.ik-proxy/records/files/kept.mp4.json',
      '/%2Eik-proxy/records/files/kept.mp4.json',
      '/.ik-proxy/records/files/kept.mp4.json/ik-metadata.json',
    ]) {
      const response = await fetch(`${proxy.url}${path}`);
      expect(response.status).toBe(404);
      expect(await response.text()).not.toContain('kept');
    }
  });
});
