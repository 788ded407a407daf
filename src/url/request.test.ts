import { describe, expect, test } from 'vitest';
import { BadRequestError } from '../errors.js';
import { resolveOutputKind } from '../outputs/index.js';
import { parseRequestUrl } from './request.js';
import type { Suffix } from './types.js';

const named = { thumb: 'w-320,so-2' };
/** Parses as the route does: the URL grammar, then the output kind's parameter checks. */
const request = (path: string, query = '') => {
  const parsed = parseRequestUrl(path, query, { named });
  resolveOutputKind(parsed);
  return parsed;
};

function rejects(path: string, query: string, param: string, message: RegExp | string): void {
  let caught: unknown;
  try {
    request(path, query);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(BadRequestError);
  expect((caught as BadRequestError).status).toBe(400);
  expect((caught as BadRequestError).param).toBe(param);
  expect((caught as BadRequestError).message).toMatch(message);
}

describe('parseRequestUrl: forms', () => {
  test('query form', () => {
    expect(request('/videos/a.mp4', 'tr=w-300,h-200')).toEqual({
      sourcePath: 'videos/a.mp4',
      suffix: { kind: 'video' },
      params: { w: { kind: 'px', value: 300 }, h: { kind: 'px', value: 200 } },
      canonical: 'w-300,h-200',
    });
  });

  test('path form gives the same request as the query form', () => {
    expect(request('/tr:w-300,h-200/videos/a.mp4')).toEqual(request('/videos/a.mp4', 'tr=w-300,h-200'));
  });

  test('the query may be given as URLSearchParams or with a leading "?"', () => {
    const expected = request('/a.mp4', 'tr=w-300');
    expect(parseRequestUrl('/a.mp4', new URLSearchParams({ tr: 'w-300' }), { named })).toEqual(expected);
    expect(request('/a.mp4', '?tr=w-300')).toEqual(expected);
  });

  test('a percent-encoded tr query is decoded', () => {
    expect(request('/a.mp4', 'tr=w-300%2Ch-200%3Art-90').canonical).toBe('w-300,h-200,rt-90');
  });

  test('tr in both the path and the query is a 400', () => {
    rejects('/tr:w-300/a.mp4', 'tr=h-200', 'tr', /not both/);
  });

  test('tr twice in the query is a 400', () => {
    rejects('/a.mp4', 'tr=w-1&tr=w-2', 'tr', /more than once/);
  });

  test('an empty path transformation is a 400', () => {
    rejects('/tr:/a.mp4', '', 'tr', /Empty transformation/);
  });

  test('no tr gives no params and an empty canonical string', () => {
    const parsed = request('/a.mp4');
    expect(parsed.params).toEqual({});
    expect(parsed.canonical).toBe('');
  });

  test('unknown query parameters are ignored and stay out of the canonical string', () => {
    const plain = request('/a.mp4', 'tr=w-300');
    expect(request('/a.mp4', 'cb=123&tr=w-300&utm_source=x')).toEqual(plain);
  });

  test('named transformations expand and the canonical string shows the result', () => {
    expect(request('/a.mp4/ik-thumbnail.jpg', 'tr=n-thumb').canonical).toBe('w-320,so-2');
  });

  test('signature parts are returned', () => {
    expect(request('/a.mp4', 'tr=w-1&ik-t=1700000000&ik-s=abc').signature).toEqual({
      s: 'abc',
      t: '1700000000',
    });
    expect(request('/a.mp4', 'ik-s=abc').signature).toEqual({ s: 'abc' });
    expect(request('/a.mp4', 'ik-t=1').signature).toBeUndefined();
    expect(request('/a.mp4', 'ik-s=abc&tr=w-10').canonical).toBe('w-10');
  });
});

describe('parseRequestUrl: source paths', () => {
  test('segments are percent-decoded', () => {
    expect(request('/my%20videos/caf%C3%A9.mp4').sourcePath).toBe('my videos/café.mp4');
  });

  test('/ik-video.mp4 is stripped, alone or before another suffix', () => {
    expect(request('/media/abc123/ik-video.mp4')).toMatchObject({
      sourcePath: 'media/abc123',
      suffix: { kind: 'video' },
    });
    expect(request('/media/abc123/ik-video.mp4/ik-thumbnail.jpg')).toMatchObject({
      sourcePath: 'media/abc123',
      suffix: { kind: 'thumbnail' },
    });
  });

  test.each([
    ['/a/../b.mp4', /"\.\."/],
    ['/a/%2e%2E/b.mp4', /"\.\."/],
    ['/./a.mp4', /"\."/],
    ['/a//b.mp4', /empty/],
    ['//etc/passwd', /empty/],
    ['/a/b.mp4/', /empty/],
    ['/', /empty/],
    ['/a%2F..%2Fb.mp4', /may not contain/],
    ['/a%5C..%5Cb.mp4', /may not contain/],
    ['/a\\b.mp4', /may not contain/],
    ['/a%00.mp4', /may not contain/],
    ['/a%zz.mp4', /Malformed percent-encoding/],
    ['/C:/windows/a.mp4', /drive letter/],
    ['a.mp4', /must start with/],
    [`/${'a'.repeat(5000)}`, /longer than/],
  ])('%s is a 400', (path, message) => {
    rejects(path, '', 'path', message);
  });

  test('a suffix with no source before it is a 400', () => {
    rejects('/ik-thumbnail.jpg', '', 'path', /names no source/);
    rejects('/tr:w-1/ik-video.mp4', '', 'path', /names no source/);
    rejects('/ik-abs/720/index.m3u8', 'tr=sr-720', 'path', /names no source/);
  });
});

describe('parseRequestUrl: suffixes', () => {
  test.each<[string, string, Suffix]>([
    ['/a.mp4', '', { kind: 'video' }],
    ['/a.mp4/ik-thumbnail.jpg', '', { kind: 'thumbnail' }],
    ['/a.mp4/ik-master.m3u8', 'tr=sr-240_720', { kind: 'hls-master' }],
    ['/a.mp4/ik-master.mpd', 'tr=sr-240_720', { kind: 'dash-manifest' }],
    ['/a.mp4/ik-abs/720/index.m3u8', '', { kind: 'hls-media', height: 720 }],
    ['/a.mp4/ik-abs/240/init.mp4', '', { kind: 'abs-init', height: 240 }],
    ['/a.mp4/ik-abs/1080/seg-0.m4s', '', { kind: 'abs-segment', height: 1080, index: 0 }],
    ['/a.mp4/ik-abs/2160/seg-417.m4s', '', { kind: 'abs-segment', height: 2160, index: 417 }],
    ['/a.mp4/ik-seek-thumbnail-track.vtt', '', { kind: 'seek-vtt' }],
    ['/a.mp4/ik-sprite-0.jpg', '', { kind: 'sprite', index: 0 }],
    ['/a.mp4/ik-sprite-12.jpg', '', { kind: 'sprite', index: 12 }],
    ['/a.mp4/ik-metadata.json', '', { kind: 'metadata' }],
  ])('%s', (path, query, suffix) => {
    const parsed = request(path, query);
    expect(parsed.suffix).toEqual(suffix);
    expect(parsed.sourcePath).toBe('a.mp4');
  });

  test.each([
    ['/a.mp4/ik-abs/700/index.m3u8', /Rendition height in ik-abs must be one of/],
    ['/a.mp4/ik-abs/abc/init.mp4', /Rendition height/],
    ['/a.mp4/ik-abs/720/seg-01.m4s', /Unknown ik-abs resource 'seg-01.m4s'/],
    ['/a.mp4/ik-abs/720/seg--1.m4s', /Unknown ik-abs resource/],
    ['/a.mp4/ik-abs/720/playlist.m3u8', /Unknown ik-abs resource/],
    ['/a.mp4/ik-sprite-x.jpg', /Invalid sprite sheet index/],
    ['/a.mp4/ik-sprite-007.jpg', /Invalid sprite sheet index/],
  ])('%s is a 400', (path, message) => {
    rejects(path, '', 'suffix', message);
  });
});

describe('parseRequestUrl: parameters per suffix', () => {
  test('thumbnails accept still-image parameters', () => {
    const tr = 'w-300,h-200,c-force,fo-top,bg-000000,b-2_FFFFFF,r-10,rt-90,q-80,f-webp,so-5';
    expect(request('/a.mp4/ik-thumbnail.jpg', `tr=${tr}`).canonical).toBe(tr);
    expect(request('/a.mp4/ik-thumbnail.jpg', 'tr=ar-1-1,w-100,cm-pad_resize').params.cm).toBe('pad_resize');
  });

  test.each(['eo-5', 'du-5', 'sr-240', 'vc-h264', 'ac-aac', 'orig-true'])('thumbnails refuse %s', (tr) => {
    const key = tr.slice(0, tr.indexOf('-'));
    rejects('/a.mp4/ik-thumbnail.jpg', `tr=${tr}`, key, `Parameter '${key}' is not supported for thumbnails`);
  });

  test('thumbnails take image formats only', () => {
    for (const f of ['jpg', 'png', 'webp', 'avif']) {
      expect(request('/a.mp4/ik-thumbnail.jpg', `tr=f-${f}`).params.f).toBe(f);
    }
    rejects(
      '/a.mp4/ik-thumbnail.jpg',
      'tr=f-mp4',
      'f',
      "Expected an image format (jpg, png, webp, avif) for parameter 'f' but received 'mp4'",
    );
  });

  test('video takes everything but sr and image formats', () => {
    const tr = 'w-640,c-at_max,q-60,f-webm,vc-vp9,ac-opus,so-1,du-4';
    expect(request('/a.mp4', `tr=${tr}`).canonical).toBe(tr);
    expect(request('/a.mp4', 'tr=orig-true').params).toEqual({ orig: true });
    rejects('/a.mp4', 'tr=sr-240_360', 'sr', "Parameter 'sr' is not supported for video output");
    rejects(
      '/a.mp4',
      'tr=f-png',
      'f',
      "Expected a video format (mp4, webm, auto, orig) for parameter 'f' but received 'png'",
    );
  });

  test('streaming manifests need sr', () => {
    rejects('/a.mp4/ik-master.m3u8', '', 'sr', /need sr/);
    rejects('/a.mp4/ik-master.mpd', 'tr=so-1', 'sr', /need sr/);
  });

  test.each(['w-300', 'h-300', 'f-mp4', 'vc-h264', 'ac-aac', 'q-50'])(
    'streaming refuses %s with sr',
    (extra) => {
      const key = extra.slice(0, extra.indexOf('-'));
      for (const suffix of ['ik-master.m3u8', 'ik-master.mpd', 'ik-abs/720/seg-1.m4s']) {
        rejects(
          `/a.mp4/${suffix}`,
          `tr=sr-240_720,${extra}`,
          key,
          `Parameter '${key}' cannot be combined with sr`,
        );
      }
    },
  );

  test('ar is refused with sr too', () => {
    rejects('/a.mp4/ik-master.m3u8', 'tr=sr-240,ar-16-9,w-1', 'w', /cannot be combined with sr/);
  });

  test('streaming accepts sr, so, eo, du and rt', () => {
    expect(request('/a.mp4/ik-master.m3u8', 'tr=sr-720_240,so-2,eo-30,rt-90').canonical).toBe(
      'rt-90,so-2,eo-30,sr-240_720',
    );
    expect(request('/a.mp4/ik-master.mpd', 'tr=sr-480,du-idu_div_2').canonical).toBe('du-idu_div_2,sr-480');
    expect(request('/a.mp4/ik-abs/720/init.mp4', 'tr=sr-240_720,so-2').params.so).toEqual({
      kind: 'seconds',
      value: 2,
    });
  });

  test('other parameters are refused on streaming resources', () => {
    rejects(
      '/a.mp4/ik-master.m3u8',
      'tr=sr-240,bg-000000',
      'bg',
      "Parameter 'bg' is not supported for HLS playlists",
    );
  });

  test('a rendition must belong to the ladder it names', () => {
    rejects(
      '/a.mp4/ik-abs/1080/index.m3u8',
      'tr=sr-240_720',
      'sr',
      'Rendition 1080 is not in the ladder sr-240_720',
    );
  });

  test('metadata takes no parameters', () => {
    expect(request('/a.mp4/ik-metadata.json').canonical).toBe('');
    rejects('/a.mp4/ik-metadata.json', 'tr=w-10', 'w', "Parameter 'w' is not supported for metadata");
  });

  test('seek tracks and sprites take only w and h', () => {
    expect(request('/a.mp4/ik-seek-thumbnail-track.vtt', 'tr=w-160,h-90').canonical).toBe('w-160,h-90');
    expect(request('/a.mp4/ik-sprite-1.jpg', 'tr=w-120').canonical).toBe('w-120');
    rejects('/a.mp4/ik-sprite-1.jpg', 'tr=q-50', 'q', "Parameter 'q' is not supported for sprite sheets");
    rejects('/a.mp4/ik-seek-thumbnail-track.vtt', 'tr=so-1', 'so', /not supported for seek thumbnail tracks/);
  });
});
