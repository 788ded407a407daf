import { describe, expect, test } from 'vitest';
import type { GeometryOp } from '../plan/geometry.js';
import type { VideoPlan } from '../plan/video.js';
import type { SourceInput } from './argv.js';
import { FRAGMENT_MICROSECONDS, videoArgs, videoFilterGraph, X264_PRESET } from './video-argv.js';

const INPUT: SourceInput = { url: 'http://127.0.0.1:9/source/abc', demuxer: 'mov' };

function videoPlan(overrides: Partial<VideoPlan> = {}): VideoPlan {
  return {
    kind: 'video',
    container: 'mp4',
    videoCodec: 'h264',
    audioCodec: 'aac',
    start: 0,
    expectedSeconds: 10,
    ops: [{ op: 'resize', width: 640, height: 360 }],
    width: 640,
    height: 360,
    crf: 23,
    quality: 50,
    contentType: 'video/mp4',
    ...overrides,
  };
}

/** The value after `flag` (the first occurrence). */
function argAfter(args: string[], flag: string): string | undefined {
  const index = args.indexOf(flag);
  return index === -1 ? undefined : args[index + 1];
}

function allValuesOf(args: string[], flag: string): string[] {
  return args.flatMap((arg, index) => (arg === flag ? [args[index + 1] ?? ''] : []));
}

describe('videoFilterGraph', () => {
  test('no ops still forces yuv420p, reading the first video stream', () => {
    expect(videoFilterGraph([])).toBe('[0:v:0]format=yuv420p[v1]');
  });

  test('each op becomes its filter, in order', () => {
    const ops: GeometryOp[] = [
      { op: 'rotate', degrees: 90 },
      { op: 'resize', width: 640, height: 360 },
      { op: 'crop', x: 2, y: 4, width: 320, height: 200 },
      { op: 'pad', width: 400, height: 300, x: 40, y: 50, color: 'FF0000' },
      { op: 'border', width: 6, color: '00FF00' },
    ];
    expect(videoFilterGraph(ops)).toBe(
      '[0:v:0]transpose=clock,scale=640:360:flags=bicubic,setsar=1,crop=320:200:2:4,' +
        'pad=400:300:40:50:color=0xFF0000,pad=iw+12:ih+12:6:6:color=0x00FF00,format=yuv420p[v1]',
    );
  });

  test('rotations map to transpose / flips', () => {
    expect(videoFilterGraph([{ op: 'rotate', degrees: 270 }])).toContain('transpose=cclock');
    expect(videoFilterGraph([{ op: 'rotate', degrees: 180 }])).toContain('hflip,vflip');
  });

  test('rounded corners composite over a solid colour and keep later ops chained', () => {
    const graph = videoFilterGraph([
      { op: 'resize', width: 640, height: 360 },
      { op: 'round', radius: 20, color: 'FFFFFF' },
      { op: 'border', width: 2, color: '000000' },
    ]);
    expect(graph).toContain('color=c=0xFFFFFF');
    expect(graph).toContain('overlay');
    expect(graph).toMatch(/\[v1\]pad=iw\+4:ih\+4:2:2:color=0x000000,format=yuv420p\[v2\]$/);
  });
});

describe('videoArgs', () => {
  test('reads the loopback source with the forced demuxer and writes to stdout', () => {
    const args = videoArgs(INPUT, videoPlan());
    expect(argAfter(args, '-i')).toBe(INPUT.url);
    expect(argAfter(args, '-f')).toBe('mov');
    expect(argAfter(args, '-protocol_whitelist')).toBe('http,tcp');
    expect(args.at(-1)).toBe('pipe:1');
    expect(args).toContain('-nostdin');
  });

  test('mp4: h264 + aac, fragmented so it streams while encoding', () => {
    const args = videoArgs(INPUT, videoPlan());
    expect(argAfter(args, '-c:v')).toBe('libx264');
    expect(argAfter(args, '-preset')).toBe(X264_PRESET);
    expect(argAfter(args, '-crf')).toBe('23');
    expect(argAfter(args, '-c:a')).toBe('aac');
    expect(argAfter(args, '-movflags')).toContain('frag_keyframe');
    expect(argAfter(args, '-movflags')).toContain('empty_moov');
    expect(argAfter(args, '-frag_duration')).toBe(String(FRAGMENT_MICROSECONDS));
    expect(allValuesOf(args, '-f').at(-1)).toBe('mp4');
    expect(allValuesOf(args, '-map')).toEqual(['[v1]', '0:a:0']);
  });

  test('webm: vp9 + opus', () => {
    const args = videoArgs(
      INPUT,
      videoPlan({ container: 'webm', videoCodec: 'vp9', audioCodec: 'opus', crf: 32 }),
    );
    expect(argAfter(args, '-c:v')).toBe('libvpx-vp9');
    expect(argAfter(args, '-crf')).toBe('32');
    // Without -b:v 0 libvpx treats -crf as a cap on a default bit rate, not constant quality.
    expect(argAfter(args, '-b:v')).toBe('0');
    expect(argAfter(args, '-c:a')).toBe('libopus');
    expect(allValuesOf(args, '-f').at(-1)).toBe('webm');
  });

  test('av1 uses SVT-AV1 in either container', () => {
    for (const container of ['mp4', 'webm'] as const) {
      const args = videoArgs(
        INPUT,
        videoPlan({ container, videoCodec: 'av1', audioCodec: container === 'mp4' ? 'aac' : 'opus' }),
      );
      expect(argAfter(args, '-c:v')).toBe('libsvtav1');
    }
  });

  test('vc-none maps audio only; ac-none maps video only', () => {
    const audioOnly = videoArgs(INPUT, videoPlan({ videoCodec: 'none', ops: [], width: 0, height: 0 }));
    expect(audioOnly).toContain('-vn');
    expect(audioOnly).not.toContain('-filter_complex');
    expect(allValuesOf(audioOnly, '-map')).toEqual(['0:a:0']);
    const silent = videoArgs(INPUT, videoPlan({ audioCodec: 'none' }));
    expect(silent).toContain('-an');
    expect(allValuesOf(silent, '-map')).toEqual(['[v1]']);
  });

  test('the map label follows the filter graph, rounded corners included', () => {
    const args = videoArgs(INPUT, videoPlan({ ops: [{ op: 'round', radius: 10, color: '000000' }] }));
    const graph = argAfter(args, '-filter_complex') ?? '';
    const lastLabel = /\[(v\d+)\]$/.exec(graph)?.[1];
    expect(allValuesOf(args, '-map')[0]).toBe(`[${lastLabel}]`);
  });

  test('trim: -ss before -i (index seek), -t for the length', () => {
    const args = videoArgs(INPUT, videoPlan({ start: 2.5, duration: 3 }));
    expect(args.indexOf('-ss')).toBeLessThan(args.indexOf('-i'));
    expect(argAfter(args, '-ss')).toBe('2.500');
    expect(argAfter(args, '-t')).toBe('3.000');
    const untrimmed = videoArgs(INPUT, videoPlan());
    expect(untrimmed).not.toContain('-ss');
    expect(untrimmed).not.toContain('-t');
  });

  test('source metadata (rotation, chapters, subtitles, data) is not copied', () => {
    const args = videoArgs(INPUT, videoPlan());
    expect(argAfter(args, '-map_metadata')).toBe('-1');
    expect(args).toContain('-sn');
    expect(args).toContain('-dn');
  });

  test('threads are passed only when asked', () => {
    expect(videoArgs(INPUT, videoPlan())).not.toContain('-threads');
    expect(argAfter(videoArgs(INPUT, videoPlan(), 2), '-threads')).toBe('2');
  });
});
