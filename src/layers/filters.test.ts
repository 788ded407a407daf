import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { PayloadTooLargeError, UnsupportedMediaError } from '../errors.js';
import { parseTransformation } from '../url/tr.js';
import { enableExpr, layerGraph, renderPosition } from './filters.js';
import { planLayers, type ResolvedInput, wrapText } from './plan.js';
import { assText, MAX_CUES, parseSubtitles, toAss, toWebVtt } from './subtitles.js';

const frame = { width: 640, height: 360, duration: 10 };

function graphFor(tr: string, resolved: Record<string, ResolvedInput>, timeOffset = 0): string {
  const layers = parseTransformation(tr, {}).layers ?? [];
  const planned = planLayers(layers, frame, new Map(Object.entries(resolved)), 8_294_400);
  return layerGraph(planned, 'in', 'out', { firstInput: 1, timeOffset, format: 'yuv420p' }).graph;
}

describe('layer filter graphs', () => {
  test('text never reaches the graph: any two texts give the same graph', () => {
    const file: ResolvedInput = { kind: 'text', file: '/tmp/ikvp-layers-abc/layer-1.txt' };
    const reference = graphFor(`l-text,ie-${Buffer.from('x').toString('base64')},l-end`, { '1': file });
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 60 }), (text) => {
        fc.pre(!/[\0-\x08\x0B-\x1F\x7F]/.test(text) && Buffer.from(text).toString('utf8') === text);
        const graph = graphFor(`l-text,ie-${Buffer.from(text).toString('base64')},l-end`, { '1': file });
        expect(graph).toBe(reference);
      }),
      { numRuns: 200 },
    );
    expect(reference).toContain("textfile='/tmp/ikvp-layers-abc/layer-1.txt'");
    expect(reference).toContain('expansion=none');
  });

  test('a file name outside the safe alphabet is refused rather than written into a graph', () => {
    expect(() => graphFor('l-text,i-hi,l-end', { '1': { kind: 'text', file: "/tmp/a':b.txt" } })).toThrow(
      /Unsafe/,
    );
  });

  test('positions: N prefix, focus anchors and expressions', () => {
    const image: ResolvedInput = { kind: 'image', file: '/tmp/l.png', width: 40, height: 30 };
    expect(graphFor('l-image,i-l.png,lx-N10,ly-5,l-end', { '1': image })).toContain("x='((W-w)-10)':y='5'");
    expect(graphFor('l-image,i-l.png,lfo-bottom_right,l-end', { '1': image })).toContain(
      "x='(W-w)':y='(H-h)'",
    );
    expect(graphFor('l-image,i-l.png,lx-bw_div_2_sub_cw,l-end', { '1': image })).toContain("x='((W/2)-w)'");
    expect(
      renderPosition(
        { op: 'mod', a: { op: 'var', name: 'bw' }, b: { op: 'num', value: 7 } },
        {
          bw: 'W',
          bh: 'H',
          cw: 'w',
          ch: 'h',
          bar: '(W/H)',
        },
      ),
    ).toBe('mod(W,7)');
  });

  test('timing windows and the segment shift', () => {
    expect(enableExpr({ start: 0 })).toBeUndefined();
    expect(enableExpr({ start: 2 })).toBe('gte(t,2.000)');
    expect(enableExpr({ start: 1, end: 3 })).toBe('between(t,1.000,3.000)');
    const image: ResolvedInput = { kind: 'image', file: '/tmp/l.png', width: 40, height: 30 };
    const graph = graphFor('l-image,i-l.png,lso-1,ldu-2,l-end', { '1': image }, 8);
    expect(graph).toContain("enable='between(t,1.000,3.000)'");
    expect(graph.startsWith('[in]setpts=PTS+8.000/TB')).toBe(true);
    expect(graph).toContain('setpts=PTS-8.000/TB,format=yuv420p[out]');
  });

  test('inner alignment of several lines is refused rather than ignored', () => {
    const file: ResolvedInput = { kind: 'text', file: '/tmp/t.txt' };
    const two = `l-text,ie-${Buffer.from('a\nb').toString('base64')},ia-center,l-end`;
    expect(() => graphFor(two, { '1': file })).toThrow(/ia-center/);
    expect(graphFor('l-text,i-ab,ia-center,l-end', { '1': file })).toContain('drawtext');
  });

  test('text with a width: wrapped lines, each from its own file, in a filled block', () => {
    expect(wrapText('Hello world this wraps', 160, 20)).toEqual(['Hello world', 'this wraps']);
    expect(wrapText('abcdefghijklmnopqrstuvwxyz', 62, 10)).toEqual(['abcdefghij', 'klmnopqrst', 'uvwxyz']);
    expect(wrapText('a\n\nb', 500, 10)).toEqual(['a', '', 'b']);
    const lines: ResolvedInput = {
      kind: 'text',
      file: '/tmp/t.txt',
      lines: ['/tmp/t-line0.txt', '/tmp/t-line1.txt'],
    };
    const graph = graphFor('l-text,i-x,w-160,ia-right,bg-000000,pa-4,lfo-bottom_right,l-end', { '1': lines });
    expect(graph).toContain("drawbox=x='(iw-168)':y='(ih-64)':w=168:h=64:color=0x000000@1.00:t=fill");
    expect(graph).toContain("textfile='/tmp/t-line1.txt'");
    expect(graph).toContain("x='(W-168)+4+(160-tw)'");
    expect(graph).toContain("y='(H-64)+32'");
  });

  test('a layer larger than a frame may be is a 422', () => {
    const image: ResolvedInput = { kind: 'image', file: '/tmp/l.png', width: 40, height: 30 };
    expect(() => graphFor('l-image,i-l.png,w-16000,h-16000,l-end', { '1': image })).toThrow(/pixel limit/);
  });
});

describe('subtitles', () => {
  test('SRT and WebVTT parse to plain cues; markup and ASS overrides are dropped', () => {
    const srt =
      '1\r\n00:00:01,000 --> 00:00:02,500\r\n{\\an8}<i>Hello</i>\r\nworld\r\n\r\n2\r\n00:00:03,000 --> 00:00:04,000\r\nBye\r\n';
    expect(parseSubtitles(srt, 'x')).toEqual([
      { start: 1, end: 2.5, text: 'Hello\nworld' },
      { start: 3, end: 4, text: 'Bye' },
    ]);
    const vtt = 'WEBVTT\n\nNOTE hi\n\n00:01.000 --> 00:02.000 align:start\n<c.x>a &amp; b</c>\n';
    expect(parseSubtitles(vtt, 'x')).toEqual([{ start: 1, end: 2, text: 'a & b' }]);
    expect(toWebVtt([{ start: 61.5, end: 62, text: 'a < b' }])).toBe(
      'WEBVTT\n\n00:01:01.500 --> 00:01:02.000\na &lt; b\n',
    );
  });

  test('hostile subtitle files are refused', () => {
    expect(() => parseSubtitles('<html>not subtitles</html>', 'x')).toThrow(UnsupportedMediaError);
    const many = Array.from(
      { length: MAX_CUES + 1 },
      (_, i) => `00:00:0${i % 9}.000 --> 00:00:09.500\nx`,
    ).join('\n\n');
    expect(() => parseSubtitles(many, 'x')).toThrow(PayloadTooLargeError);
  });

  test('ASS text cannot carry override tags or break out of its line', () => {
    expect(assText('{\\pos(0,0)}a\\Nb\nc')).not.toMatch(/[{}\\]N?b/);
    const script = toAss(
      [{ start: 0, end: 1, text: '{\\fs500}\nDialogue: 0,0:00:00.00,9:00:00.00,Default,,0,0,0,,pwned' }],
      {
        type: 'subtitles',
        input: { kind: 'path', path: 'a.srt' },
      },
      640,
      360,
    );
    const events = script.split('\n').filter((line) => line.startsWith('Dialogue:'));
    expect(events).toHaveLength(1);
    expect(events[0]).not.toContain('{');
  });
});
