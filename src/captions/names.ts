/**
 * Caption files are found by name beside their source: `<stem>.<lang>.vtt` or `<stem>.<lang>.srt`
 * next to `<stem>.<ext>` (`talks/a.mp4` has `talks/a.en.vtt` and `talks/a.fr.srt`). Pure.
 */

/** One caption track of a source. */
export interface CaptionTrack {
  /** BCP 47 language tag as written in the file name (`en`, `pt-BR`). */
  lang: string;
  /** The caption file's path in the origin. */
  path: string;
  /** The file's version (part of every key that lists or serves it). */
  version: string;
}

/** Language tags a caption file name may carry: `en`, `fra`, `pt-BR`, `zh-Hans`. */
export const LANG_TAG = /^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$/;
/** More tracks than this beside one source are not captions (and would bloat every manifest). */
export const MAX_CAPTION_TRACKS = 20;

/** The folder of a source path (`''` at the root) and its stem (the name without extension). */
export function stemOf(sourcePath: string): { dir: string; stem: string } {
  const slash = sourcePath.lastIndexOf('/');
  const dir = slash < 0 ? '' : sourcePath.slice(0, slash);
  const name = sourcePath.slice(slash + 1);
  const dot = name.lastIndexOf('.');
  return { dir, stem: dot > 0 ? name.slice(0, dot) : name };
}

/**
 * The caption files among `paths` for `sourcePath`, one per language (a `.vtt` wins over an
 * `.srt` of the same language), sorted by language, at most `MAX_CAPTION_TRACKS`.
 */
export function captionFiles(
  sourcePath: string,
  paths: readonly string[],
): Array<{ lang: string; path: string }> {
  const { dir, stem } = stemOf(sourcePath);
  const prefix = dir ? `${dir}/${stem}.` : `${stem}.`;
  const found = new Map<string, string>();
  for (const path of paths) {
    if (!path.startsWith(prefix) || path.slice(prefix.length).includes('/')) continue;
    const match = /^(.+)\.(vtt|srt)$/.exec(path.slice(prefix.length));
    const lang = match?.[1];
    if (!match || !lang || !LANG_TAG.test(lang)) continue;
    if (match[2] === 'vtt' || !found.has(lang)) found.set(lang, path);
  }
  return [...found.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .slice(0, MAX_CAPTION_TRACKS)
    .map(([lang, path]) => ({ lang, path }));
}

/** A readable name for a track (the language's own name when the runtime knows it). */
export function trackName(lang: string): string {
  try {
    const name = new Intl.DisplayNames([lang], { type: 'language' }).of(lang);
    if (name && name !== lang) return name.charAt(0).toUpperCase() + name.slice(1);
  } catch {
    // An unknown tag keeps its code.
  }
  return lang;
}
