/**
 * Layers (ImageKit's overlays): `l-<type>` ... `l-end` inside `tr`. Parsed by `grammar.ts` (pure),
 * planned by `plan.ts` (pure, against the base frame's size and duration), rendered by the ffmpeg
 * filter builders in `filters.ts`, with their inputs fetched by `inputs.ts`.
 */
import type { CropMode, Expression, Focus } from '../url/types.js';

/** What `l-<type>` opens. A solid-colour block is an `image` layer whose input is `ik_canvas`. */
export type LayerType = 'image' | 'text' | 'video' | 'subtitles';

/** An offset in pixels (`N` prefix: measured from the right or bottom edge) or an expression. */
export type LayerOffset = { kind: 'px'; value: number; fromEnd: boolean } | Expression;
/** A layer's size in pixels or an expression over the base frame (`bw_mul_0.2`). */
export type LayerLength = { kind: 'px'; value: number } | Expression;
/** Seconds (2 decimals at most) or an expression over `bdu`. */
export type LayerTime = { kind: 'seconds'; value: number } | Expression;

/** What a layer shows: a file from the origin, a solid block, or text. */
export type LayerInput = { kind: 'path'; path: string } | { kind: 'canvas' } | { kind: 'text'; text: string };

/** Typography: bold and/or italic. */
export interface Typography {
  bold: boolean;
  italic: boolean;
}

/**
 * A colour as ImageKit writes it: `RRGGBB`, or `RRGGBBAA` where `AA` is an opacity from 00 to 99
 * (percent). Canonical form: upper case, `AA` left out when absent.
 */
export interface LayerColor {
  rgb: string;
  /** Opacity 0..1 (1 when not given). */
  opacity: number;
}

/** One parsed layer; absent keys mean "default". */
export interface Layer {
  type: LayerType;
  input: LayerInput;
  lx?: LayerOffset;
  ly?: LayerOffset;
  /** Centre position (`lxc`, `lyc`): the layer's centre at this point of the base. */
  lxc?: LayerOffset;
  lyc?: LayerOffset;
  lfo?: Focus;
  lso?: LayerTime;
  leo?: LayerTime;
  /** Dropped when `leo` is given (`leo` wins, as ImageKit documents). */
  ldu?: LayerTime;
  w?: LayerLength;
  h?: LayerLength;
  c?: CropMode;
  rt?: 0 | 90 | 180 | 270;
  b?: { width: number; color: LayerColor };
  r?: number | 'max';
  /** Transparency 1..9 (ImageKit's `al`): 1 is nearly transparent, 9 nearly opaque. */
  al?: number;
  bg?: LayerColor;
  fs?: number;
  ff?: string;
  co?: LayerColor;
  /** Padding around text, the same on every side (one value). */
  pa?: number[];
  ia?: 'left' | 'center' | 'right';
  lh?: number;
  tg?: Typography;
  /** Subtitle outline `fol-W_COLOR`. */
  fol?: { width: number; color: LayerColor };
  /** Subtitle shadow `fsh-COLOR_W`. */
  fsh?: { color: LayerColor; width: number };
  /** Layers nested in this one (ImageKit allows 3 levels). */
  layers?: Layer[];
}
