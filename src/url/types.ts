/**
 * Types produced by the pure URL layer. `parseRequestUrl` turns a request path + query into a
 * `ProxyRequest`; `serializeParams` gives the canonical `tr` string used in cache keys, with
 * `parseTransformation(serializeParams(p)) == p`.
 */

import type { Layer } from '../layers/types.js';

/** Which output a URL asks for, decided by the suffix after the source path. */
export type Suffix =
  | { kind: 'video' } // no suffix (or /ik-video.mp4): the source, transformed or original
  | { kind: 'gif-video' } // /ik-gif-video.mp4: an animated GIF source delivered as a video
  | { kind: 'thumbnail' } // /ik-thumbnail.jpg
  | { kind: 'hls-master' } // /ik-master.m3u8
  | { kind: 'dash-manifest' } // /ik-master.mpd
  | { kind: 'hls-media'; height: number } // /ik-abs/<height>/index.m3u8
  | { kind: 'abs-init'; height: number } // /ik-abs/<height>/init.mp4
  | { kind: 'abs-segment'; height: number; index: number } // /ik-abs/<height>/seg-<index>.m4s
  | { kind: 'caption-playlist'; lang: string } // /ik-abs/text-<lang>/index.m3u8
  | { kind: 'caption-track'; lang: string } // /ik-abs/text-<lang>/captions.vtt
  | { kind: 'seek-vtt' } // /ik-seek-thumbnail-track.vtt
  | { kind: 'sprite'; index: number } // /ik-sprite-<index>.jpg
  | { kind: 'metadata' }; // /ik-metadata.json

/**
 * Variables an arithmetic expression may use: the input's (`iw`...) for the base, and inside a
 * layer the base frame's (`bw`, `bh`, `bar`, `bdu`) and the layer's own (`cw`, `ch`).
 */
export type ExprVariable = 'iw' | 'ih' | 'iar' | 'idu' | 'bw' | 'bh' | 'bar' | 'bdu' | 'cw' | 'ch';
export type ExprOperator = 'add' | 'sub' | 'mul' | 'div' | 'mod' | 'pow';

/** `iw_div_2_add_10`: operands and operators, evaluated left to right as ImageKit does. */
export interface Expression {
  kind: 'expr';
  operands: Array<number | ExprVariable>;
  operators: ExprOperator[];
}

/** A length in pixels, a fraction of the source in (0,1), or an expression. */
export type Dimension = { kind: 'px'; value: number } | { kind: 'fraction'; value: number } | Expression;

/** Seconds (2 decimals at most) or an expression over `idu`. */
export type TimeValue = { kind: 'seconds'; value: number } | Expression;

export type CropMode = 'maintain_ratio' | 'force' | 'at_max' | 'at_least';
export type CropModeExtra = 'pad_resize' | 'extract' | 'pad_extract';
export type Focus =
  | 'center'
  | 'top'
  | 'left'
  | 'bottom'
  | 'right'
  | 'top_left'
  | 'top_right'
  | 'bottom_left'
  | 'bottom_right';
export type OutputFormat = 'mp4' | 'webm' | 'auto' | 'orig' | 'jpg' | 'png' | 'webp' | 'avif';
export type VideoCodec = 'h264' | 'vp9' | 'av1' | 'none';
export type AudioCodec = 'aac' | 'opus' | 'none';

/**
 * Every transformation parameter, validated, after named transformations are expanded and the
 * chain's steps merged (a key given in two steps is a 400). Absent keys mean "default".
 */
export interface TransformParams {
  w?: Dimension;
  h?: Dimension;
  /** Aspect ratio `ar-W-H`. */
  ar?: { w: number; h: number };
  c?: CropMode;
  cm?: CropModeExtra;
  fo?: Focus;
  /** Padding colour, 6 upper-case hex digits. */
  bg?: string;
  /** Border `b-W_RRGGBB`. */
  b?: { width: number; color: string };
  /** Corner radius in pixels or `max`. */
  r?: number | 'max';
  /** Clockwise rotation. `rt-360` is accepted and normalised to 0. */
  rt?: 0 | 90 | 180 | 270;
  /** Quality 1..100. */
  q?: number;
  f?: OutputFormat;
  vc?: VideoCodec;
  ac?: AudioCodec;
  so?: TimeValue;
  eo?: TimeValue;
  du?: TimeValue;
  /** ABS ladder heights, ascending, unique, each one of 240, 360, 480, 720, 1080, 1440, 2160. */
  sr?: number[];
  /** `orig-true`: serve the original bytes. */
  orig?: true;
  /** `l-<type>` ... `l-end`, in chain order (see `src/layers/`). */
  layers?: Layer[];
}

/** A parsed and validated request. */
export interface ProxyRequest {
  /** Path of the source inside the origin, no leading `/`, percent-decoded, `/ik-video.mp4` removed. */
  sourcePath: string;
  suffix: Suffix;
  params: TransformParams;
  /** Canonical `tr` string (sorted keys, normalised values); empty when there are no params. */
  canonical: string;
  /** Signature parts when present in the query. */
  signature?: { s: string; t?: string };
}

/** Named transformations from configuration: name -> raw `tr` string (may itself chain). */
export type NamedTransformations = Readonly<Record<string, string>>;
