import { Readable } from 'node:stream';
import { describe, expect, test } from 'vitest';
import { OriginError } from '../errors.js';
import { CaptionFinder, type CaptionOrigin } from './finder.js';

function origin(files: Record<string, string>, calls: { list: number }, fail = false): CaptionOrigin {
  return {
    async list(dir) {
      calls.list++;
      if (fail) throw new OriginError('listing failed');
      return Object.keys(files)
        .filter((path) => path.startsWith(dir ? `${dir}/` : ''))
        .map((path) => ({ path, size: files[path]!.length }));
    },
    async stat(path) {
      return { size: files[path]!.length, version: `v-${files[path]!.length}` };
    },
    async open(path) {
      return Readable.from([Buffer.from(files[path]!)]);
    },
  };
}

describe('CaptionFinder', () => {
  const files = {
    'v/a.mp4': 'video',
    'v/a.en.vtt': 'WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nHi\n',
    'v/a.fr.srt': '1\n00:00:01,000 --> 00:00:02,000\nSalut\n',
  };

  test('finds the tracks once per TTL and reads them as cues', async () => {
    const calls = { list: 0 };
    const finder = new CaptionFinder(origin(files, calls), 60_000);
    const tracks = await finder.find('v/a.mp4');
    expect(tracks.map((t) => [t.lang, t.path])).toEqual([
      ['en', 'v/a.en.vtt'],
      ['fr', 'v/a.fr.srt'],
    ]);
    await finder.find('v/a.mp4');
    expect(calls.list).toBe(1);
    expect(await finder.read(tracks[1]!)).toEqual([{ start: 1, end: 2, text: 'Salut' }]);
  });

  test('sources of one folder share its listing', async () => {
    const calls = { list: 0 };
    const folder = { ...files, 'v/b.mp4': 'video', 'v/b.de.vtt': files['v/a.en.vtt'] };
    const finder = new CaptionFinder(origin(folder, calls), 60_000);
    expect((await finder.find('v/a.mp4')).map((t) => t.lang)).toEqual(['en', 'fr']);
    expect((await finder.find('v/b.mp4')).map((t) => t.lang)).toEqual(['de']);
    expect(await finder.find('v/c.mp4')).toEqual([]);
    expect(calls.list).toBe(1);
  });

  test('a failed listing leaves the stream without captions and is asked again next time', async () => {
    const calls = { list: 0 };
    const finder = new CaptionFinder(origin(files, calls, true), 60_000);
    expect(await finder.find('v/a.mp4')).toEqual([]);
    expect(await finder.find('v/a.mp4')).toEqual([]);
    expect(calls.list).toBe(2);
    const { list: _list, ...unlisted } = origin(files, calls);
    expect(await new CaptionFinder(unlisted, 60_000).find('v/a.mp4')).toEqual([]);
  });
});
