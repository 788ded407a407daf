import { describe, expect, test } from 'vitest';
import { sniffDemuxer } from '../../src/media/sniff.js';
import { ffprobeBytes, streamOf } from '../support/ffprobe.js';
import { decodePixels } from '../support/pixels.js';
import { useProxy } from '../support/proxy.js';
import { countNear, frameOf, useLayerOrigin } from './support.js';

const origin = useLayerOrigin();
const proxy = useProxy({ ORIGIN: origin });

async function get(path: string) {
  const response = await fetch(`${proxy.url}${path}`);
  return {
    status: response.status,
    type: response.headers.get('content-type'),
    body: Buffer.from(await response.arrayBuffer()),
  };
}

const whole = { x: 0, y: 0, w: 60, h: 40 };

describe('/ik-gif-video.mp4', () => {
  test('an animated GIF becomes an H.264 MP4 that keeps its frames and timing', async () => {
    const answer = await get('/anim.gif/ik-gif-video.mp4');
    expect([answer.status, answer.type]).toEqual([200, 'video/mp4']);
    const probed = await ffprobeBytes(answer.body, 'mp4');
    expect(streamOf(probed, 'video')).toMatchObject({ codec_name: 'h264', width: 160, height: 120 });
    expect(Number(probed.format.duration)).toBeCloseTo(2, 0);
    expect(countNear(await frameOf(answer.body, 0.5), 'FF0000', whole)).toBe(60 * 40);
    expect(countNear(await frameOf(answer.body, 1.5), '00FF00', whole)).toBe(60 * 40);
  });

  test('f-webm and a resize, like any video', async () => {
    const answer = await get('/anim.gif/ik-gif-video.mp4?tr=w-80,f-webm');
    expect([answer.status, answer.type]).toEqual([200, 'video/webm']);
    const probed = await ffprobeBytes(answer.body, 'webm');
    expect(streamOf(probed, 'video')).toMatchObject({ codec_name: 'vp9', width: 80, height: 60 });
  });

  test('a GIF has thumbnails, and a source that is not a GIF is a 415', async () => {
    const poster = await get('/anim.gif/ik-thumbnail.jpg?tr=so-1.5');
    expect(poster.status).toBe(200);
    expect(countNear(await decodePixels(poster.body), '00FF00', whole)).toBe(60 * 40);
    const notGif = await get('/base.mp4/ik-gif-video.mp4');
    expect(notGif.status).toBe(415);
    expect(sniffDemuxer(Buffer.from('GIF89a\x01\x00\x01\x00', 'latin1'))).toBe('gif');
  });
});
