/**
 * The fonts a text or subtitle layer may name with `ff`. They come from the `fonts-dejavu-core`
 * package (installed by scripts/provision.sh and the Dockerfile); nothing is ever fetched, and a
 * name outside this list is a 400.
 */

/** Folder the font files live in (Debian's `fonts-dejavu-core`). */
export const FONT_DIR = '/usr/share/fonts/truetype/dejavu';

/** Font files per family: regular, bold, italic, bold italic. */
const FAMILIES = {
  DejaVuSans: [
    'DejaVuSans.ttf',
    'DejaVuSans-Bold.ttf',
    'DejaVuSans-Oblique.ttf',
    'DejaVuSans-BoldOblique.ttf',
  ],
  DejaVuSerif: [
    'DejaVuSerif.ttf',
    'DejaVuSerif-Bold.ttf',
    'DejaVuSerif-Italic.ttf',
    'DejaVuSerif-BoldItalic.ttf',
  ],
  DejaVuSansMono: [
    'DejaVuSansMono.ttf',
    'DejaVuSansMono-Bold.ttf',
    'DejaVuSansMono-Oblique.ttf',
    'DejaVuSansMono-BoldOblique.ttf',
  ],
} as const;

/** Family names `ff` accepts (case-insensitive; canonical spelling as listed). */
export const FONT_FAMILIES = Object.keys(FAMILIES) as Array<keyof typeof FAMILIES>;
/** The family used when a layer names none. */
export const DEFAULT_FONT = 'DejaVuSans';

/** The canonical family name for `raw`, or undefined when it is not in the list. */
export function fontFamily(raw: string): string | undefined {
  return FONT_FAMILIES.find((name) => name.toLowerCase() === raw.toLowerCase());
}

/** Absolute path of the font file for a family and typography. */
export function fontFile(family: string | undefined, bold: boolean, italic: boolean): string {
  const files = FAMILIES[(fontFamily(family ?? DEFAULT_FONT) ?? DEFAULT_FONT) as keyof typeof FAMILIES];
  const index = (bold ? 1 : 0) + (italic ? 2 : 0);
  return `${FONT_DIR}/${files[index]}`;
}

/** The family name libass knows a family by (its fontconfig name). */
export function fontDisplayName(family: string | undefined): string {
  const name = fontFamily(family ?? DEFAULT_FONT) ?? DEFAULT_FONT;
  return name.replace(/^DejaVu(Sans|Serif)(Mono)?$/, (_m, kind: string, mono?: string) =>
    mono ? `DejaVu ${kind} Mono` : `DejaVu ${kind}`,
  );
}
