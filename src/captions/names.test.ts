import { describe, expect, test } from 'vitest';
import { absResourcePath, parseAbsResource } from '../abs/layout.js';
import { BadRequestError } from '../errors.js';
import { captionFiles, stemOf, trackName } from './names.js';
import { captionPlaylist, cuesOnStream } from './outputs.js';

describe('caption files beside a source', () => {
  test('<stem>.<lang>.vtt|srt in the same folder, one per language, vtt first, sorted', () => {
    const listing = [
      'talks/a.mp4',
      'talks/a.fr.srt',
      'talks/a.en.srt',
      'talks/a.en.vtt',
      'talks/a.pt-BR.vtt',
      'talks/a.b.en.vtt',
      'talks/ab.en.vtt',
      'talks/sub/a.de.vtt',
      'talks/a.EN.vtt',
      'talks/a.english.vtt',
      'a.it.vtt',
    ];
    expect(captionFiles('talks/a.mp4', listing)).toEqual([
      { lang: 'en', path: 'talks/a.en.vtt' },
      { lang: 'fr', path: 'talks/a.fr.srt' },
      { lang: 'pt-BR', path: 'talks/a.pt-BR.vtt' },
    ]);
    expect(captionFiles('a.mp4', listing)).toEqual([{ lang: 'it', path: 'a.it.vtt' }]);
    expect(stemOf('x/y/clip.v2.mov')).toEqual({ dir: 'x/y', stem: 'clip.v2' });
    expect(trackName('fr')).toBe('Français');
    expect(trackName('zz')).toBe('zz');
  });

  test('caption URLs round-trip through the ik-abs layout; a bad language is a 400', () => {
    for (const resource of [
      { kind: 'caption-playlist', lang: 'en' },
      { kind: 'caption-track', lang: 'pt-BR' },
    ] as const) {
      expect(parseAbsResource(absResourcePath(resource).split('/'))).toEqual(resource);
    }
    expect(() => parseAbsResource(['ik-abs', 'text-../..', 'index.m3u8'])).toThrow(BadRequestError);
    expect(() => parseAbsResource(['ik-abs', 'text-en', 'x.vtt'])).toThrow(BadRequestError);
  });

  test('cues move onto a trimmed stream and are cut to its length', () => {
    const cues = [
      { start: 0.5, end: 1.5, text: 'a' },
      { start: 3, end: 8, text: 'b' },
      { start: 12, end: 13, text: 'c' },
    ];
    expect(cuesOnStream(cues, 1, 5)).toEqual([
      { start: 0, end: 0.5, text: 'a' },
      { start: 2, end: 5, text: 'b' },
    ]);
    expect(captionPlaylist(6.5, '?tr=sr-240')).toContain(
      '#EXTINF:6.500000,\ncaptions.vtt?tr=sr-240\n#EXT-X-ENDLIST',
    );
  });
});
