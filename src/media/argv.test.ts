import { describe, expect, test } from 'vitest';
import { frameArgs, inputArgs, remuxWithIndexArgs, splitFrameFilters } from './argv.js';

const input = { url: 'http://127.0.0.1:1/s/0123', demuxer: 'mov' as const };

describe('inputArgs', () => {
  test('whitelists only loopback HTTP, forces the sniffed demuxer and seeks before -i', () => {
    const args = inputArgs(input, 12.5);
    expect(args[args.indexOf('-protocol_whitelist') + 1]).toBe('http,tcp');
    expect(args[args.indexOf('-f') + 1]).toBe('mov');
    expect(args.indexOf('-ss')).toBeLessThan(args.indexOf('-i'));
    expect(args[args.indexOf('-ss') + 1]).toBe('12.500');
    expect(args.at(-1)).toBe(input.url);
  });

  test('no seek at 0 and no mov-only options for other demuxers', () => {
    const args = inputArgs({ url: input.url, demuxer: 'matroska' }, 0);
    expect(args).not.toContain('-ss');
    expect(args).not.toContain('-enable_drefs');
  });
});

describe('splitFrameFilters', () => {
  test('leading rotate and resize go to ffmpeg, the rest stays for sharp', () => {
    const { filters, rest } = splitFrameFilters([
      { op: 'rotate', degrees: 90 },
      { op: 'resize', width: 300, height: 400 },
      { op: 'crop', x: 0, y: 50, width: 300, height: 300 },
      { op: 'resize', width: 100, height: 100 },
    ]);
    expect(filters).toEqual(['transpose=clock', 'scale=300:400:flags=lanczos', 'setsar=1']);
    expect(rest).toEqual([
      { op: 'crop', x: 0, y: 50, width: 300, height: 300 },
      { op: 'resize', width: 100, height: 100 },
    ]);
  });

  test('a plan starting with a crop keeps everything for sharp', () => {
    const ops = [{ op: 'crop', x: 1, y: 2, width: 3, height: 4 } as const];
    expect(splitFrameFilters(ops)).toEqual({ filters: [], rest: ops });
  });
});

describe('frameArgs', () => {
  test('one PNG frame on stdout, with the filters when given', () => {
    const args = frameArgs(input, 3, false, ['scale=10:10']);
    expect(args[args.indexOf('-vf') + 1]).toBe('scale=10:10');
    expect(args[args.indexOf('-frames:v') + 1]).toBe('1');
    expect(args.slice(-3)).toEqual(['-f', 'image2pipe', 'pipe:1'].slice(-3));
    expect(frameArgs(input, 3)).not.toContain('-vf');
  });

  test('from the end uses -sseof and no -ss', () => {
    const args = frameArgs(input, 0.5, true);
    expect(args[args.indexOf('-sseof') + 1]).toBe('-0.500');
    expect(args).not.toContain('-ss');
  });
});

describe('remuxWithIndexArgs', () => {
  test('copies a local file the proxy made, file protocol only', () => {
    const args = remuxWithIndexArgs('/tmp/a.part', '/tmp/a.webm', 'webm');
    expect(args[args.indexOf('-protocol_whitelist') + 1]).toBe('file');
    expect(args[args.indexOf('-c') + 1]).toBe('copy');
    expect(args.at(-1)).toBe('/tmp/a.webm');
  });
});
