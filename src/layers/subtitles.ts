import { PayloadTooLargeError, UnsupportedMediaError } from '../errors.js';
import { fontDisplayName } from './fonts.js';
import type { Layer, LayerColor } from './types.js';

/**
 * Pure subtitle handling: SRT and WebVTT are parsed into plain cues (text only: every styling tag
 * and ASS override is dropped), then written back as WebVTT (caption tracks) or as an ASS script
 * the proxy writes itself (burned-in subtitles), so nothing a subtitle file says ever reaches
 * libass as a command.
 */

/** One cue: seconds on the source's timeline and its plain text lines. */
export interface Cue {
  start: number;
  end: number;
  text: string;
}

/** A subtitle file larger than this is not a subtitle file. */
export const MAX_SUBTITLE_BYTES = 2 * 1024 * 1024;
/** More cues than this (about 5 hours of dense dialogue) is refused. */
export const MAX_CUES = 10_000;

const TIMESTAMP = /^(?:(\d{1,3}):)?(\d{1,2}):(\d{2})[.,](\d{1,3})$/;

function parseTimestamp(raw: string): number | undefined {
  const match = TIMESTAMP.exec(raw.trim());
  if (!match) return undefined;
  const [, h, m, s, ms] = match;
  return Number(h ?? 0) * 3600 + Number(m) * 60 + Number(s) + Number((ms ?? '0').padEnd(3, '0')) / 1000;
}

/** Strips markup: `<i>`, `<c.x>`, `{\an8}`-style overrides; decodes the few entities WebVTT has. */
function plainText(raw: string): string {
  return raw
    .replace(/<[^>]*>/g, '')
    .replace(/\{[^}]*\}/g, '')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&nbsp;/g, ' ')
    .replace(/&amp;/g, '&')
    .trim();
}

/**
 * Parses SRT or WebVTT text into cues, in time order. Blocks without a valid timing line are
 * skipped (WebVTT NOTE/STYLE/REGION blocks, SRT numbering). `where` names the file in errors.
 *
 * @throws UnsupportedMediaError (415) when nothing in it is a cue; PayloadTooLargeError (413)
 * past `MAX_CUES`.
 */
export function parseSubtitles(text: string, where: string): Cue[] {
  const body = text.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n');
  const cues: Cue[] = [];
  for (const block of body.split(/\n{2,}/)) {
    const lines = block.split('\n');
    const timing = lines.findIndex((line) => line.includes('-->'));
    if (timing < 0 || timing > 1) continue;
    const [from, rest] = lines[timing]!.split('-->');
    const start = parseTimestamp(from ?? '');
    const end = parseTimestamp((rest ?? '').trim().split(/\s+/)[0] ?? '');
    if (start === undefined || end === undefined || end <= start) continue;
    const cueText = lines
      .slice(timing + 1)
      .map(plainText)
      .filter((line) => line !== '')
      .join('\n');
    if (cueText === '') continue;
    if (cues.length >= MAX_CUES) {
      throw new PayloadTooLargeError(`${where} has more than ${MAX_CUES} cues`);
    }
    cues.push({ start, end, text: cueText });
  }
  if (cues.length === 0) throw new UnsupportedMediaError(`${where} is not an SRT or WebVTT file with cues`);
  return cues.sort((a, b) => a.start - b.start);
}

function vttTime(value: number): string {
  const ms = Math.round(value * 1000);
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.floor((ms % 60_000) / 1000);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(h)}:${pad(m)}:${pad(s)}.${pad(ms % 1000, 3)}`;
}

function vttEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/-->/g, '--&gt;');
}

/** Cues as a WebVTT document (what a caption track serves, whatever the file was). */
export function toWebVtt(cues: readonly Cue[]): string {
  const blocks = cues.map((cue) => `${vttTime(cue.start)} --> ${vttTime(cue.end)}\n${vttEscape(cue.text)}`);
  return `WEBVTT\n\n${blocks.join('\n\n')}\n`;
}

function assTime(value: number): string {
  const cs = Math.round(value * 100);
  const h = Math.floor(cs / 360_000);
  const m = Math.floor((cs % 360_000) / 6000);
  const s = Math.floor((cs % 6000) / 100);
  return `${h}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}.${String(cs % 100).padStart(2, '0')}`;
}

/** ASS colour: &HAABBGGRR with AA = transparency (00 opaque). */
function assColor(color: LayerColor): string {
  const alpha = Math.round((1 - color.opacity) * 255);
  const [r, g, b] = [color.rgb.slice(0, 2), color.rgb.slice(2, 4), color.rgb.slice(4, 6)];
  return `&H${alpha.toString(16).padStart(2, '0').toUpperCase()}${b}${g}${r}`;
}

/**
 * Text as an ASS dialogue line: `{`, `}` and `\` would start override tags, so they are replaced
 * by look-alike characters; a newline becomes ASS's own line break.
 */
export function assText(text: string): string {
  return text
    .replace(/\\/g, '\u29F5')
    .replace(/\{/g, '\uFF5B')
    .replace(/\}/g, '\uFF5D')
    .replace(/\n/g, '\\N');
}

/** The ASS script that burns `cues` in with a subtitle layer's styling, at `width` x `height`. */
export function toAss(cues: readonly Cue[], layer: Layer, width: number, height: number): string {
  const size = layer.fs ?? Math.max(12, Math.round(height / 18));
  const primary = layer.co ?? { rgb: 'FFFFFF', opacity: 1 };
  const outline = layer.fol?.color ?? { rgb: '000000', opacity: 1 };
  const shadow = layer.fsh?.color ?? { rgb: '000000', opacity: 1 };
  // BorderStyle 3 draws an opaque box (in OutlineColour) behind the text: ImageKit's background.
  const boxed = layer.bg !== undefined;
  const style = [
    'Default',
    fontDisplayName(layer.ff),
    size,
    assColor(primary),
    assColor(primary),
    assColor(boxed ? layer.bg! : outline),
    assColor(shadow),
    layer.tg?.bold ? -1 : 0,
    layer.tg?.italic ? -1 : 0,
    0,
    0,
    100,
    100,
    0,
    0,
    boxed ? 3 : 1,
    boxed ? Math.max(2, layer.fol?.width ?? 4) : (layer.fol?.width ?? 2),
    layer.fsh?.width ?? 0,
    2,
    20,
    20,
    Math.round(height / 20),
    1,
  ].join(',');
  const events = cues.map(
    (cue) => `Dialogue: 0,${assTime(cue.start)},${assTime(cue.end)},Default,,0,0,0,,${assText(cue.text)}`,
  );
  return [
    '[Script Info]',
    'ScriptType: v4.00+',
    `PlayResX: ${width}`,
    `PlayResY: ${height}`,
    'WrapStyle: 0',
    'ScaledBorderAndShadow: yes',
    '',
    '[V4+ Styles]',
    'Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding',
    `Style: ${style}`,
    '',
    '[Events]',
    'Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text',
    ...events,
    '',
  ].join('\n');
}
