import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { expectJsonError, fetchBytes } from '../integration/helpers.js';
import { REAL_FFMPEG } from '../support/ffprobe.js';
import { FIXTURES_DIR, loadManifest } from '../support/fixtures.js';
import { startProxy, type TestProxy } from '../support/proxy.js';

/**
 * Hostile media (issue 5): sources that are not media, are broken, or try to make ffmpeg open
 * other files or URLs. Each must be refused with 415 or 422 JSON for every kind of output, never
 * reach the loopback canary, never be cached, and leave the process healthy. The limits on size,
 * duration, pixels and streams answer 413/422 naming the variable.
 */

const execFileAsync = promisify(execFile);

/** The three outputs each hostile source is asked for. */
const OUTPUTS = [
  { name: 'thumbnail', path: (source: string) => `/${source}/ik-thumbnail.jpg?tr=so-1,w-120` },
  { name: 'metadata', path: (source: string) => `/${source}/ik-metadata.json` },
  { name: 'video transform', path: (source: string) => `/${source}?tr=w-160` },
] as const;

/** A loopback HTTP server that only counts: any hit means ffmpeg followed a URL inside a source. */
async function startCanary(): Promise<{ server: Server; port: number; hits: string[] }> {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(`${req.method} ${req.url}`);
    res.writeHead(200, { 'content-type': 'video/mp4' }).end('canary');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, hits };
}

/**
 * A one-frame rawvideo QuickTime file whose sample description and track header claim
 * `width`x`height`. rawvideo has no bitstream header of its own, so ffprobe reports exactly what
 * the container claims; decoding a frame would allocate width*height*3 bytes.
 */
async function craftClaimedDimensions(file: string, width: number, height: number): Promise<void> {
  const small = `${file}.small.mov`;
  await execFileAsync(REAL_FFMPEG, [
    '-v',
    'error',
    '-y',
    '-f',
    'lavfi',
    '-i',
    'color=c=red:s=16x16:r=1',
    '-frames:v',
    '1',
    '-c:v',
    'rawvideo',
    '-pix_fmt',
    'rgb24',
    '-f',
    'mov',
    small,
  ]);
  const bytes = await readFile(small);
  await rm(small);
  // stsd payload: version/flags (4), entry count (4); the entry: size, type 'raw ', reserved (6),
  // data reference index (2), version, revision, vendor, temporal and spatial quality (16), width, height.
  const stsd = bytes.indexOf('stsd');
  const entry = stsd + 4 + 8;
  expect(bytes.toString('latin1', entry + 4, entry + 8)).toBe('raw ');
  bytes.writeUInt16BE(width, entry + 32);
  bytes.writeUInt16BE(height, entry + 34);
  // tkhd (version 0): 76 bytes of fields before the 16.16 fixed-point width and height.
  const tkhd = bytes.indexOf('tkhd');
  expect(bytes[tkhd + 4]).toBe(0);
  bytes.writeUInt32BE(width * 65536, tkhd + 4 + 76);
  bytes.writeUInt32BE(height * 65536, tkhd + 4 + 80);
  await writeFile(file, bytes);
}

let canary: Awaited<ReturnType<typeof startCanary>>;
let originDir: string;
/** Every hostile source in the origin folder, with why it is hostile. */
const hostile: Array<{ name: string; why: string }> = [];

beforeAll(async () => {
  canary = await startCanary();
  originDir = await mkdtemp(path.join(os.tmpdir(), 'ikvp-hostile-'));
  const canaryUrl = `http://127.0.0.1:${canary.port}`;
  for (const entry of loadManifest().filter((fixture) => fixture.kind === 'hostile')) {
    const target = path.join(originDir, entry.name);
    if (entry.hostile === 'playlist') {
      const playlist = await readFile(path.join(FIXTURES_DIR, entry.name), 'utf8');
      expect(playlist).toContain('file:///etc/passwd');
      const rewritten = playlist.replace(/http:\/\/127\.0\.0\.1:\d+\/canary/, `${canaryUrl}/canary`);
      expect(rewritten).toContain(`${canaryUrl}/canary`);
      await writeFile(target, rewritten);
    } else {
      await copyFile(path.join(FIXTURES_DIR, entry.name), target);
    }
    hostile.push({ name: entry.name, why: entry.description });
  }
  const extra: Array<{ name: string; why: string; body: Buffer | string }> = [
    {
      name: 'concat-disguised.mov',
      why: 'an ffconcat script named .mov pointing at the canary and /etc/passwd',
      body: `ffconcat version 1.0\nfile '${canaryUrl}/x.mp4'\nfile 'file:///etc/passwd'\n`,
    },
    {
      name: 'playlist-in-box.mp4',
      why: 'an HLS playlist behind an 8-byte MP4 "free" box, so sniffing says mov',
      body: Buffer.concat([
        Buffer.from([0, 0, 0, 8]),
        Buffer.from('free'),
        Buffer.from(`#EXTM3U\n#EXTINF:10.0,\n${canaryUrl}/boxed\n#EXT-X-ENDLIST\n`),
      ]),
    },
    {
      name: 'm3u8-named.mov',
      why: 'an HLS playlist whose only segment is the canary, named .mov',
      body: `#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10.0,\n${canaryUrl}/named\n#EXT-X-ENDLIST\n`,
    },
  ];
  for (const file of extra) {
    await writeFile(path.join(originDir, file.name), file.body);
    hostile.push({ name: file.name, why: file.why });
  }
  await craftClaimedDimensions(path.join(originDir, 'claims-60000x60000.mov'), 60000, 60000);
  hostile.push({ name: 'claims-60000x60000.mov', why: 'a header claiming 60000x60000' });
  await craftClaimedDimensions(path.join(originDir, 'claims-16000x16000.mov'), 16000, 16000);
  hostile.push({ name: 'claims-16000x16000.mov', why: 'a header claiming 16000x16000 (a 768 MB frame)' });
  await copyFile(path.join(FIXTURES_DIR, 'sample.mp4'), path.join(originDir, 'sample.mp4'));
}, 60_000);

afterAll(async () => {
  await new Promise<void>((resolve) => canary?.server.close(() => resolve()));
  if (originDir) await rm(originDir, { recursive: true, force: true });
});

describe('hostile sources', () => {
  let proxy: TestProxy;
  beforeAll(async () => {
    proxy = await startProxy({ ORIGIN: originDir });
  });
  afterAll(async () => {
    await proxy?.close();
  });

  test('the manifest lists hostile fixtures of every kind the issue names', () => {
    const kinds = loadManifest()
      .filter((fixture) => fixture.kind === 'hostile')
      .map((fixture) => fixture.hostile);
    expect(new Set(kinds)).toEqual(new Set(['text', 'empty', 'random', 'truncated', 'playlist']));
  });

  test('every hostile source is refused with 415/422 JSON for each output, twice, never cached', async () => {
    const failures: string[] = [];
    for (const source of hostile) {
      for (const output of OUTPUTS) {
        // Metadata of a well-formed but over-limit source is its own test below.
        if (source.name === 'claims-16000x16000.mov' && output.name === 'metadata') continue;
        const url = `${proxy.url}${output.path(source.name)}`;
        const first = await fetchBytes(url);
        const again = await fetchBytes(url);
        const label = `${source.name} (${source.why}) as ${output.name}`;
        for (const response of [first, again]) {
          if (response.status !== 415 && response.status !== 422) {
            failures.push(`${label}: ${response.status} ${response.body.toString('utf8').slice(0, 200)}`);
            continue;
          }
          expectJsonError(response, response.status);
          expect(response.headers.get('x-cache') ?? '', label).not.toMatch(/HIT/);
        }
        expect(again.status, label).toBe(first.status);
      }
    }
    expect(failures).toEqual([]);
    expect(canary.hits).toEqual([]);
    // A failed video job leaves the service's table just after its response; wait for that, bounded.
    for (let i = 0; i < 50 && proxy.proxy.service.liveJobCount > 0; i++)
      await new Promise((resolve) => setTimeout(resolve, 20));
    expect(proxy.proxy.service.liveJobCount).toBe(0);
    expect(proxy.proxy.limiter.stats().running).toBe(0);
  });

  test('a truncated upload is named as truncated, not as a generic failure', async () => {
    const response = await fetchBytes(`${proxy.url}/truncated.mp4?tr=w-160`);
    const error = expectJsonError(response, 422);
    expect(error.message).toMatch(/truncated/);
  });

  test('a header claiming a 16000x16000 frame is refused by MAX_SOURCE_PIXELS before any decode', async () => {
    for (const output of [OUTPUTS[0], OUTPUTS[2]]) {
      const response = await fetchBytes(`${proxy.url}${output.path('claims-16000x16000.mov')}`);
      expect(expectJsonError(response, 422).message).toContain('MAX_SOURCE_PIXELS');
    }
  });

  test('metadata of a source over MAX_SOURCE_PIXELS is 422 too (the limit gates every output)', async () => {
    const response = await fetchBytes(`${proxy.url}${OUTPUTS[1].path('claims-16000x16000.mov')}`);
    expect(expectJsonError(response, 422).message).toContain('MAX_SOURCE_PIXELS');
  });

  test('after all of that the process is healthy and still serves a real video', async () => {
    expect((await fetchBytes(`${proxy.url}/healthz`)).status).toBe(200);
    const thumbnail = await fetchBytes(`${proxy.url}/sample.mp4/ik-thumbnail.jpg?tr=so-1,w-120`);
    expect(thumbnail.status).toBe(200);
    expect(thumbnail.headers.get('content-type')).toBe('image/jpeg');
    expect(canary.hits).toEqual([]);
  });
});

describe('source limits answer 413/422 naming the limit', () => {
  const cases = [
    { variable: 'MAX_SOURCE_BYTES', value: '1MB', status: 413 }, // sample.mp4 is 1.4 MB
    { variable: 'MAX_SOURCE_DURATION', value: '5s', status: 422 }, // it lasts 12 s
    { variable: 'MAX_SOURCE_STREAMS', value: '1', status: 422 }, // it has video + audio
    { variable: 'MAX_SOURCE_PIXELS', value: '640000', status: 422 }, // it is 1280x720
  ];
  for (const limit of cases) {
    test(`${limit.variable}=${limit.value}: ${limit.status} for thumbnails and transforms, nothing cached`, async () => {
      const proxy = await startProxy({ ORIGIN: originDir, [limit.variable]: limit.value });
      try {
        for (const output of [OUTPUTS[0], OUTPUTS[2]]) {
          for (let attempt = 0; attempt < 2; attempt++) {
            const response = await fetchBytes(`${proxy.url}${output.path('sample.mp4')}`);
            const error = expectJsonError(response, limit.status);
            expect(error.message).toContain(limit.variable);
            expect(response.headers.get('x-cache') ?? '').not.toMatch(/HIT/);
          }
        }
        expect(proxy.proxy.limiter.stats().running).toBe(0);
      } finally {
        await proxy.close();
      }
      // The same source within the limits is served: the refusal came from the limit alone.
      const relaxed = await startProxy({ ORIGIN: originDir });
      try {
        expect((await fetchBytes(`${relaxed.url}${OUTPUTS[0].path('sample.mp4')}`)).status).toBe(200);
      } finally {
        await relaxed.close();
      }
    });
  }
});
