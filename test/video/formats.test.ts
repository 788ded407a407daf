import { describe, expect, test } from 'vitest';
import { decodeErrors, ffprobe, streamOf } from '../support/ffprobe.js';
import { useProxy } from '../support/proxy.js';
import { download, useWorkDir } from './support.js';

const CHROME =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36';
const SAFARI =
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15';

const proxy = useProxy();
const work = useWorkDir();

async function get(tr: string, headers: Record<string, string> = {}) {
  const result = await download(`${proxy.url}/sample.mp4?tr=${tr}`, work.dir, { headers });
  return { ...result, probed: result.response.status === 200 ? await ffprobe(result.file) : undefined };
}

describe('containers and codecs', () => {
  test.each([
    ['f-mp4', 'video/mp4', 'mov,mp4', 'h264', 'aac'],
    ['f-webm', 'video/webm', 'matroska,webm', 'vp9', 'opus'],
    ['vc-av1', 'video/mp4', 'mov,mp4', 'av1', 'aac'],
    ['f-webm,vc-av1', 'video/webm', 'matroska,webm', 'av1', 'opus'],
    ['vc-none', 'audio/mp4', 'mov,mp4', undefined, 'aac'],
    ['f-webm,vc-none', 'audio/webm', 'matroska,webm', undefined, 'opus'],
    ['ac-none', 'video/mp4', 'mov,mp4', 'h264', undefined],
    ['f-webm,ac-none', 'video/webm', 'matroska,webm', 'vp9', undefined],
  ])('%s -> %s (%s, video %s, audio %s)', async (tr, contentType, formatPrefix, videoCodec, audioCodec) => {
    const { response, probed, file } = await get(`${tr},w-160,du-1`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe(contentType);
    expect(probed?.format.format_name.startsWith(formatPrefix)).toBe(true);
    expect(streamOf(probed!, 'video')?.codec_name).toBe(videoCodec);
    expect(streamOf(probed!, 'audio')?.codec_name).toBe(audioCodec);
    expect(probed?.streams).toHaveLength((videoCodec ? 1 : 0) + (audioCodec ? 1 : 0));
    expect(await decodeErrors(file)).toBe('');
  });

  test('an impossible combination is a 400 JSON error, never a file', async () => {
    const { response, body } = await get('f-mp4,vc-vp9');
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toMatch(/application\/json/);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(JSON.parse(body.toString()).error.message).toMatch(/vc-vp9/);
  });
});

describe('quality', () => {
  test('a higher q gives a larger (higher bit-rate) output, for h264 and vp9', async () => {
    for (const format of ['f-mp4', 'f-webm']) {
      const low = await get(`${format},q-10,w-320,du-2`);
      const high = await get(`${format},q-90,w-320,du-2`);
      expect(low.response.status).toBe(200);
      expect(high.response.status).toBe(200);
      expect(high.body.length, format).toBeGreaterThan(low.body.length * 1.5);
    }
  });
});

describe('f-auto', () => {
  test('Chrome gets webm/vp9 and the response varies on User-Agent', async () => {
    const { response, probed } = await get('f-auto,w-160,du-1', { 'User-Agent': CHROME });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('video/webm');
    expect(response.headers.get('vary') ?? '').toMatch(/user-agent/i);
    expect(streamOf(probed!, 'video')?.codec_name).toBe('vp9');
  });

  test('Safari gets mp4/h264, also with Vary, from its own cache entry', async () => {
    const { response, probed } = await get('f-auto,w-160,du-1', { 'User-Agent': SAFARI });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('video/mp4');
    expect(response.headers.get('vary') ?? '').toMatch(/user-agent/i);
    expect(streamOf(probed!, 'video')?.codec_name).toBe('h264');
  });

  test('an unknown client gets mp4', async () => {
    const { response } = await get('f-auto,w-160,du-1', { 'User-Agent': 'curl/8.5.0' });
    expect(response.headers.get('content-type')).toBe('video/mp4');
  });
});
