import { buildSrc } from '@imagekit/javascript';
import { describe, expect, test } from 'vitest';
import { decodePixels } from '../support/pixels.js';
import { useProxy } from '../support/proxy.js';
import { BASE, countNear, frameOf, useLayerOrigin } from './support.js';

const origin = useLayerOrigin();
const proxy = useProxy({ ORIGIN: origin });

const RED = 'FF0000';
const LOGO = { width: 40, height: 30 };

async function get(path: string): Promise<{ status: number; body: Buffer; type: string }> {
  const response = await fetch(`${proxy.url}${path}`);
  return {
    status: response.status,
    body: Buffer.from(await response.arrayBuffer()),
    type: response.headers.get('content-type') ?? '',
  };
}

async function video(tr: string): Promise<Buffer> {
  const { status, body } = await get(`/base.mp4?tr=${encodeURIComponent(tr)}`);
  expect(status, body.toString('utf8').slice(0, 300)).toBe(200);
  return body;
}

const box = (x: number, y: number, w: number, h: number) => ({ x, y, w, h });

describe('image layers on a video', () => {
  test('the watermark is where lx/ly say, only between lso and leo', async () => {
    const body = await video('l-image,i-logo.png,lx-10,ly-N10,lso-1,leo-3,l-end');
    // ly-N10: the layer's bottom edge 10 px above the frame's: y = 240 - 30 - 10 = 200.
    const at = box(12, 202, LOGO.width - 4, LOGO.height - 4);
    const area = at.w * at.h;
    expect(countNear(await frameOf(body, 2), RED, at)).toBe(area);
    expect(countNear(await frameOf(body, 0.5), RED, at)).toBe(0);
    expect(countNear(await frameOf(body, 4), RED, at)).toBe(0);
    // Nothing red anywhere else.
    const whole = await frameOf(body, 2);
    expect(countNear(whole, RED, box(0, 0, BASE.width, BASE.height))).toBeLessThan(
      LOGO.width * LOGO.height * 1.2,
    );
  });

  test('lfo anchors and the layer is scaled as asked', async () => {
    const body = await video('w-160,l-image,i-logo.png,w-20,lfo-bottom_right,l-end');
    const frame = await frameOf(body, 1);
    expect([frame.width, frame.height]).toEqual([160, 120]);
    // 20x15 in the bottom-right corner of the 160x120 frame the earlier step made.
    expect(countNear(frame, RED, box(142, 107, 16, 11))).toBe(16 * 11);
    expect(countNear(frame, RED, box(0, 0, 138, 120))).toBe(0);
  });

  test('a solid-colour block (ik_canvas) with alpha, and expressions over the frame', async () => {
    const body = await video('l-image,i-ik_canvas,bg-00FF00,w-bw_div_4,h-40,lx-0,ly-bh_div_2,l-end');
    const frame = await frameOf(body, 1);
    expect(countNear(frame, '00FF00', box(2, 122, 76, 36))).toBe(76 * 36);
    expect(countNear(frame, '00FF00', box(82, 0, 200, 240))).toBe(0);
  });
});

describe('nested layers', () => {
  test('a layer inside a layer is placed on its parent, which is placed on the frame', async () => {
    const body = await video(
      'l-image,i-ik_canvas,bg-000000,w-120,h-60,lx-N0,ly-N0,l-image,i-logo.png,lfo-top_left,l-end,l-end',
    );
    const frame = await frameOf(body, 1);
    // The 120x60 black block sits in the bottom-right corner; the 40x30 red logo in its top-left.
    expect(countNear(frame, RED, box(202, 182, 36, 26))).toBe(36 * 26);
    expect(countNear(frame, '000000', box(244, 212, 72, 24))).toBe(72 * 24);
    expect(countNear(frame, RED, box(0, 0, 200, 240))).toBe(0);
  });
});

describe('video layers (picture-in-picture)', () => {
  test('the clip plays from lso until it ends, where lx/ly put it, on videos, posters and segments', async () => {
    const tr = 'l-video,i-pip.mp4,lx-N0,ly-0,lso-1,l-end';
    const body = await video(tr);
    const corner = box(BASE.width - 76, 4, 72, 52);
    expect(countNear(await frameOf(body, 0.5), '00FF00', corner)).toBe(0);
    expect(countNear(await frameOf(body, 2), '00FF00', corner)).toBe(72 * 52);
    expect(countNear(await frameOf(body, 3.5), '00FF00', corner)).toBe(0);
    const poster = await get(`/base.mp4/ik-thumbnail.jpg?tr=so-2.5,${tr}`);
    expect(countNear(await decodePixels(poster.body), '00FF00', corner)).toBe(72 * 52);
    const init = await get(`/base.mp4/ik-abs/240/init.mp4?tr=${tr}`);
    const segment = await get(`/base.mp4/ik-abs/240/seg-0.m4s?tr=${tr}`);
    expect(segment.status).toBe(200);
    const frame = await frameOf(Buffer.concat([init.body, segment.body]), 1.5);
    expect(countNear(frame, '00FF00', corner)).toBe(72 * 52);
  });
});

describe('text layers', () => {
  test('text is drawn in its colour where lfo says', async () => {
    const body = await video('l-text,i-HELLO,fs-40,co-FFFF00,lfo-center,l-end');
    const frame = await frameOf(body, 1);
    expect(countNear(frame, 'FFFF00', box(80, 90, 160, 60))).toBeGreaterThan(200);
    expect(countNear(frame, 'FFFF00', box(0, 0, 320, 60))).toBe(0);
  });

  test('a width wraps the text into a block of that width, aligned by ia, filled by bg', async () => {
    const body = await video(
      'l-text,i-Hello%20world%20this%20wraps,fs-20,w-160,ia-center,bg-000000,co-FFFF00,lx-0,ly-0,l-end',
    );
    const frame = await frameOf(body, 1);
    // Two lines of 23 px: the block is 160x46 at the top left, black where no glyph is.
    expect(countNear(frame, '000000', box(150, 2, 8, 42))).toBe(8 * 42);
    expect(countNear(frame, '000000', box(0, 2, 4, 42))).toBe(4 * 42);
    expect(countNear(frame, BASE.color, box(164, 0, 100, 46))).toBe(100 * 46);
    expect(countNear(frame, BASE.color, box(0, 50, 160, 20))).toBe(160 * 20);
    expect(countNear(frame, 'FFFF00', box(0, 0, 160, 23))).toBeGreaterThan(30);
    expect(countNear(frame, 'FFFF00', box(0, 23, 160, 23))).toBeGreaterThan(30);
  });

  test('every special character of the filter syntax renders literally, nothing is expanded', async () => {
    const text = `a:b'c\\d%{pts}e,f;g[h]\nline2 %{localtime} $(id) \`x\``;
    const tr = `l-text,ie-${Buffer.from(text).toString('base64')},fs-20,co-FFFF00,bg-000000,pa-4,lx-0,ly-0,l-end`;
    const body = await video(tr);
    const frame = await frameOf(body, 1);
    // Two lines of text on a black box at the top left; the rest of the frame is untouched blue.
    expect(countNear(frame, 'FFFF00', box(0, 0, 320, 60))).toBeGreaterThan(100);
    expect(countNear(frame, BASE.color, box(0, 120, 320, 120))).toBe(320 * 120);
  });
});

describe('thumbnails and adaptive streaming carry layers', () => {
  test('a watermarked poster, at the thumbnail time on the timeline', async () => {
    const tr = 'l-image,i-logo.png,lx-0,ly-0,lso-1,leo-3,l-end';
    const shown = await get(`/base.mp4/ik-thumbnail.jpg?tr=so-2,${tr}`);
    const hidden = await get(`/base.mp4/ik-thumbnail.jpg?tr=so-4,${tr}`);
    expect([shown.status, hidden.status]).toEqual([200, 200]);
    expect(countNear(await decodePixels(shown.body), RED, box(4, 4, 30, 20))).toBe(600);
    expect(countNear(await decodePixels(hidden.body), RED, box(4, 4, 30, 20))).toBe(0);
  });

  test('every HLS segment has the watermark at its place on the stream timeline', async () => {
    const tr = 'l-image,i-logo.png,lx-0,ly-0,lso-1,leo-5,l-end';
    const master = await get(`/base.mp4/ik-master.m3u8?tr=${tr}:sr-240`);
    expect(master.status).toBe(200);
    const init = await get(`/base.mp4/ik-abs/240/init.mp4?tr=${tr}`);
    for (const [index, checks] of [
      [
        0,
        [
          [0.5, false],
          [2, true],
        ],
      ],
      [
        1,
        [
          [4.2, true],
          [5.5, false],
        ],
      ],
    ] as const) {
      const segment = await get(`/base.mp4/ik-abs/240/seg-${index}.m4s?tr=${tr}`);
      expect(segment.status).toBe(200);
      for (const [time, visible] of checks) {
        // ffmpeg seeks from a file's first timestamp: the segment starts at index * 4 s.
        const frame = await frameOf(Buffer.concat([init.body, segment.body]), time - index * 4);
        expect(countNear(frame, RED, box(4, 4, 30, 20)), `segment ${index} at ${time} s`).toBe(
          visible ? 600 : 0,
        );
      }
    }
  });
});

describe('burned-in subtitles', () => {
  test('a cue shows during its time only, as plain text (override tags dropped)', async () => {
    const body = await video('l-subtitles,i-subs.srt,fs-24,co-FFFF00,l-end');
    const during = await frameOf(body, 1.5);
    const after = await frameOf(body, 3);
    const bottom = box(0, 160, 320, 80);
    expect(countNear(during, 'FFFF00', bottom)).toBeGreaterThan(100);
    expect(countNear(after, 'FFFF00', box(0, 0, 320, 240))).toBe(0);
    // `{\fs200\pos(0,0)}` would have put huge text at the top; it is shown as nothing at all.
    expect(countNear(during, 'FFFF00', box(0, 0, 320, 120))).toBe(0);

    // A poster at the cue's time carries it; one after it does not.
    const tr = 'l-subtitles,i-subs.srt,fs-24,co-FFFF00,l-end';
    const poster = await get(`/base.mp4/ik-thumbnail.jpg?tr=so-1.5,${tr}`);
    const later = await get(`/base.mp4/ik-thumbnail.jpg?tr=so-3,${tr}`);
    expect(countNear(await decodePixels(poster.body), 'FFFF00', bottom)).toBeGreaterThan(100);
    expect(countNear(await decodePixels(later.body), 'FFFF00', box(0, 0, 320, 240))).toBe(0);
  });
});

describe('hostile layer inputs', () => {
  test.each([
    ['l-image,i-missing.png,l-end', 404, /image layer #1/],
    ['w-100,l-text,i-x,l-end,l-image,i-nope@@gone.png,l-end', 404, /image layer #2/],
    ['l-image,i-svg.png,l-end', 415, /image layer #1/],
    ['l-image,i-playlist.png,l-end', 415, /image layer #1/],
    ['l-image,i-wide.png,l-end', 422, /image layer #1.*50000/],
    ['l-image,i-..@@..@@etc@@passwd,l-end', 400, /inside the origin/],
    [`l-image,ie-${Buffer.from('../../etc/passwd').toString('base64')},l-end`, 400, /inside the origin/],
    ['l-subtitles,i-many.srt,l-end', 413, /subtitles layer #1/],
    ['l-subtitles,i-logo.png,l-end', 415, /SRT or WebVTT/],
    ['l-subtitles,i-evil.ass,l-end', 415, /SRT or WebVTT/],
    ['l-video,i-logo.png,l-end', 415, /video layer #1/],
    ['l-video,i-missing.mp4,l-end', 404, /video layer #1/],
  ])('%s -> %i', async (tr, status, message) => {
    const answer = await get(`/base.mp4?tr=${encodeURIComponent(tr)}`);
    expect(answer.status, answer.body.toString('utf8')).toBe(status);
    expect(JSON.parse(answer.body.toString('utf8')).error.message).toMatch(message);
    expect(answer.body.toString('utf8')).not.toMatch(/etc|passwd|tmp|ikvp/);
  });

  test('a 10 MB ie- value is refused before any work', async () => {
    const huge = `l-text,ie-${'QUFB'.repeat(2_500_000)},l-end`;
    const response = await fetch(`${proxy.url}/base.mp4?tr=${huge}`).catch(() => undefined);
    if (response) expect(response.status).toBeGreaterThanOrEqual(400);
    if (response) expect(response.status).toBeLessThan(500);
  });
});

describe('URLs built by @imagekit/javascript render', () => {
  test.each([
    [
      'image',
      { type: 'image', input: 'logo.png', position: { x: 0, y: 0 }, transformation: [{ width: 40 }] },
      RED,
    ],
    [
      'text',
      {
        type: 'text',
        text: 'Hi, there: 100%',
        position: { focus: 'top' },
        transformation: [{ fontSize: 30, fontColor: 'FFFF00' }],
      },
      'FFFF00',
    ],
    [
      'solidColor',
      {
        type: 'solidColor',
        color: '00FF00',
        position: { x: 0, y: 0 },
        transformation: [{ width: 60, height: 60 }],
      },
      '00FF00',
    ],
    [
      'video',
      { type: 'video', input: 'pip.mp4', position: { focus: 'top_left' }, timing: { start: 1 } },
      '00FF00',
    ],
    [
      'subtitle',
      { type: 'subtitle', input: 'subs.srt', transformation: [{ fontSize: 30, color: 'FFFF00' }] },
      'FFFF00',
    ],
  ])('%s', async (_name, overlay, colour) => {
    const url = new URL(
      buildSrc({ urlEndpoint: proxy.url, src: '/base.mp4', transformation: [{ overlay } as never] }),
    );
    const response = await fetch(url);
    expect(response.status).toBe(200);
    const frame = await frameOf(Buffer.from(await response.arrayBuffer()), 1.5);
    expect(countNear(frame, colour, box(0, 0, BASE.width, BASE.height))).toBeGreaterThan(100);
  });
});
