import { BadRequestError, UnprocessableError } from '../errors.js';
import type { SourceInput } from '../media/argv.js';
import { evaluateExpression } from '../url/expression.js';
import type { Expression, ExprOperator, ExprVariable, Focus } from '../url/types.js';
import { fontFile } from './fonts.js';
import { describeLayer } from './grammar.js';
import type { Layer, LayerColor, LayerLength, LayerOffset, LayerTime } from './types.js';

/** The frame a layer sits on: the output of the earlier steps (or the parent layer). */
export interface LayerFrame {
  width: number;
  height: number;
  /** Seconds of the base output (`bdu`); 0 when unknown or a still. */
  duration: number;
}

/** What `inputs.ts` made of a layer's input, ready for ffmpeg. */
export type ResolvedInput =
  | { kind: 'image'; file: string; width: number; height: number }
  | { kind: 'text'; file: string; lines?: string[] }
  | { kind: 'subtitles'; file: string }
  | { kind: 'video'; input: SourceInput; width: number; height: number };

/** The resolved inputs of a chain's layers, by each layer's place (`1`, `1.2`...). */
export type ResolvedInputs = ReadonlyMap<string, ResolvedInput>;

/** When a layer shows, in seconds of the base output's timeline. */
export interface LayerWindow {
  start: number;
  end?: number;
}

/** A position term over the frame (`bw`, `bh`) and the layer (`cw`, `ch`); rendered by `filters.ts`. */
export type PositionExpr =
  | { op: 'num'; value: number }
  | { op: 'var'; name: 'bw' | 'bh' | 'cw' | 'ch' | 'bar' }
  | { op: ExprOperator; a: PositionExpr; b: PositionExpr };

/** A layer's top-left corner on its frame. */
export interface PlannedPosition {
  x: PositionExpr;
  y: PositionExpr;
}

interface PlannedBase {
  place: string;
  position: PlannedPosition;
  window: LayerWindow;
  /** 0..1 */
  opacity: number;
}

/** A picture placed on the frame: an image file, or a solid block. */
export interface PlannedPicture extends PlannedBase {
  kind: 'picture';
  /** The image file (absent: a solid block of `color`, or a video). */
  file?: string;
  /** A video layer's input (picture-in-picture): it plays from its start at the window's start. */
  video?: SourceInput;
  color?: LayerColor;
  width: number;
  height: number;
  /** How the image is fitted into width x height. */
  fit: 'fill' | 'cover' | 'contain';
  rotate: 0 | 90 | 180 | 270;
  border?: { width: number; color: LayerColor };
  radius?: number;
  children: PlannedLayer[];
}

/** Text drawn from a file (never from the filter graph). */
export interface PlannedText extends PlannedBase {
  kind: 'text';
  file: string;
  fontFile: string;
  size: number;
  color: LayerColor;
  box?: { color: LayerColor; padding: number };
  lineSpacing: number;
  /**
   * Text with a width (`w`): wrapped into lines (one file each) laid out in a block that wide,
   * aligned by `ia`; the background fills the whole block.
   */
  block?: { width: number; lineHeight: number; lines: string[]; align: 'left' | 'center' | 'right' };
}

/** Subtitles burned in from an ASS script the proxy wrote itself. */
export interface PlannedSubtitles {
  kind: 'subtitles';
  place: string;
  file: string;
}

export type PlannedLayer = PlannedPicture | PlannedText | PlannedSubtitles;

const WHITE: LayerColor = { rgb: 'FFFFFF', opacity: 1 };
/** ImageKit's default text size. */
export const DEFAULT_FONT_SIZE = 24;
/** A line of DejaVu text is about 1.17 em high (ascent + descent). */
const LINE_HEIGHT = 1.17;
/** Average advance of a DejaVu glyph in em, a little generous so wrapped lines fit their width. */
const ADVANCE = 0.62;

/** The width in pixels a text layer wraps at (its `w`), or undefined when it has none. */
export function textWrapWidth(layer: Layer, frame: LayerFrame, place: string): number | undefined {
  return layer.w && lengthPx('w', layer.w, frame, describeLayer('text', place));
}

/**
 * Greedy word wrap of `text` into lines at most `width` pixels wide, estimating each character
 * at `ADVANCE` em of `fontSize` (drawtext cannot measure before drawing); explicit newlines are
 * kept and a word longer than a line is cut.
 */
export function wrapText(text: string, width: number, fontSize: number): string[] {
  const perLine = Math.max(1, Math.floor(width / (fontSize * ADVANCE)));
  const lines: string[] = [];
  for (const paragraph of text.split('\n')) {
    let line = '';
    for (const word of paragraph.split(' ')) {
      let rest = word;
      while ([...rest].length > perLine) {
        if (line) lines.push(line);
        line = '';
        lines.push([...rest].slice(0, perLine).join(''));
        rest = [...rest].slice(perLine).join('');
      }
      const candidate = line ? `${line} ${rest}` : rest;
      if ([...candidate].length > perLine && line) {
        lines.push(line);
        line = rest;
      } else line = candidate;
    }
    lines.push(line);
  }
  return lines.slice(0, 100);
}

function frameVars(frame: LayerFrame): Partial<Record<ExprVariable, number>> {
  return { bw: frame.width, bh: frame.height, bar: frame.width / frame.height, bdu: frame.duration };
}

function lengthPx(param: string, value: LayerLength, frame: LayerFrame, where: string): number {
  const px = value.kind === 'px' ? value.value : evaluateExpression(value, frameVars(frame));
  const rounded = Math.round(px);
  if (rounded < 1) throw new UnprocessableError(`${param} of ${where} is under 1 pixel (${px})`);
  return rounded;
}

function seconds(value: LayerTime, frame: LayerFrame): number {
  return value.kind === 'seconds' ? value.value : evaluateExpression(value, frameVars(frame));
}

/** lso/leo/ldu resolved on the base output's timeline; `leo` wins over `ldu`. */
function layerWindow(layer: Layer, frame: LayerFrame): LayerWindow {
  const start = layer.lso ? Math.max(0, seconds(layer.lso, frame)) : 0;
  const end = layer.leo
    ? seconds(layer.leo, frame)
    : layer.ldu
      ? start + seconds(layer.ldu, frame)
      : undefined;
  return end === undefined ? { start } : { start, end };
}

const num = (value: number): PositionExpr => ({ op: 'num', value });
const ref = (name: 'bw' | 'bh' | 'cw' | 'ch'): PositionExpr => ({ op: 'var', name });
const bin = (op: ExprOperator, a: PositionExpr, b: PositionExpr): PositionExpr => ({ op, a, b });

/** An ImageKit expression (evaluated left to right) as a term tree. */
function fromExpression(expr: Expression): PositionExpr {
  const operand = (o: Expression['operands'][number]): PositionExpr => {
    if (typeof o === 'number') return num(o);
    if (o === 'bw' || o === 'bh' || o === 'cw' || o === 'ch' || o === 'bar') return { op: 'var', name: o };
    throw new BadRequestError(`Variable '${o}' cannot be used in a layer position`, 'lx');
  };
  let tree = operand(expr.operands[0] ?? 0);
  expr.operators.forEach((operator, index) => {
    tree = bin(operator, tree, operand(expr.operands[index + 1] ?? 0));
  });
  return tree;
}

function offsetExpr(value: LayerOffset, size: 'bw' | 'bh', own: 'cw' | 'ch'): PositionExpr {
  if (value.kind === 'expr') return fromExpression(value);
  // `N20`: the layer's far edge 20 px from the frame's far edge.
  if (value.fromEnd) return bin('sub', bin('sub', ref(size), ref(own)), num(value.value));
  return num(value.value);
}

function centreExpr(value: LayerOffset, size: 'bw' | 'bh', own: 'cw' | 'ch'): PositionExpr {
  const at =
    value.kind === 'expr'
      ? fromExpression(value)
      : value.fromEnd
        ? bin('sub', ref(size), num(value.value))
        : num(value.value);
  return bin('sub', at, bin('div', ref(own), num(2)));
}

/** Focus anchors as (x, y) terms. */
function focusPosition(focus: Focus): PlannedPosition {
  const centre = (size: 'bw' | 'bh', own: 'cw' | 'ch') => bin('div', bin('sub', ref(size), ref(own)), num(2));
  const far = (size: 'bw' | 'bh', own: 'cw' | 'ch') => bin('sub', ref(size), ref(own));
  const x = focus.includes('left') ? num(0) : focus.includes('right') ? far('bw', 'cw') : centre('bw', 'cw');
  const y = focus.includes('top') ? num(0) : focus.includes('bottom') ? far('bh', 'ch') : centre('bh', 'ch');
  return { x, y };
}

/**
 * Where a layer goes: `lx`/`ly` (top-left corner; `N` from the far edge) or `lxc`/`lyc` (centre)
 * win over `lfo`; an axis left out of an explicit position is 0; no position at all is the centre.
 */
function layerPosition(layer: Layer): PlannedPosition {
  const explicit = layer.lx ?? layer.ly ?? layer.lxc ?? layer.lyc;
  if (!explicit) return focusPosition(layer.lfo ?? 'center');
  const x = layer.lx
    ? offsetExpr(layer.lx, 'bw', 'cw')
    : layer.lxc
      ? centreExpr(layer.lxc, 'bw', 'cw')
      : num(0);
  const y = layer.ly
    ? offsetExpr(layer.ly, 'bh', 'ch')
    : layer.lyc
      ? centreExpr(layer.lyc, 'bh', 'ch')
      : num(0);
  return { x, y };
}

function opacityOf(layer: Layer): number {
  return layer.al === undefined ? 1 : layer.al / 10;
}

function planPicture(
  layer: Layer,
  frame: LayerFrame,
  resolved: ResolvedInputs,
  place: string,
  maxPixels: number,
): PlannedPicture {
  const where = describeLayer(layer.type, place);
  let width: number;
  let height: number;
  let file: string | undefined;
  let video: SourceInput | undefined;
  const rotate = layer.rt ?? 0;
  if (layer.input.kind === 'canvas') {
    width = lengthPx('w', layer.w!, frame, where);
    height = lengthPx('h', layer.h!, frame, where);
  } else {
    const input = resolved.get(place);
    if (input?.kind !== 'image' && input?.kind !== 'video')
      throw new BadRequestError(`${where} has no input`, 'i');
    if (input.kind === 'image') file = input.file;
    else video = input.input;
    const turned = rotate === 90 || rotate === 270;
    const iw = turned ? input.height : input.width;
    const ih = turned ? input.width : input.height;
    const w = layer.w && lengthPx('w', layer.w, frame, where);
    const h = layer.h && lengthPx('h', layer.h, frame, where);
    width = w ?? (h ? Math.round((h * iw) / ih) : iw);
    height = h ?? (w ? Math.round((w * ih) / iw) : ih);
  }
  width = Math.max(1, width);
  height = Math.max(1, height);
  const border = layer.b?.width ?? 0;
  const outer = (width + 2 * border) * (height + 2 * border);
  if (outer > maxPixels) {
    throw new UnprocessableError(
      `${where} would be ${width}x${height} pixels, more than the ${maxPixels}-pixel limit for a frame`,
    );
  }
  const planned: PlannedPicture = {
    kind: 'picture',
    place,
    position: layerPosition(layer),
    window: layerWindow(layer, frame),
    opacity: opacityOf(layer) * (layer.input.kind === 'canvas' ? (layer.bg?.opacity ?? 1) : 1),
    width,
    height,
    fit:
      layer.c === 'force' ? 'fill' : layer.c === 'at_max' ? 'contain' : layer.w && layer.h ? 'cover' : 'fill',
    rotate,
    children: [],
  };
  if (file) planned.file = file;
  if (video) planned.video = video;
  if (layer.input.kind === 'canvas' && layer.bg) planned.color = { rgb: layer.bg.rgb, opacity: 1 };
  if (layer.b) planned.border = layer.b;
  if (layer.r !== undefined)
    planned.radius = layer.r === 'max' ? Math.floor(Math.min(width, height) / 2) : layer.r;
  const inner: LayerFrame = {
    width: width + 2 * border,
    height: height + 2 * border,
    duration: frame.duration,
  };
  planned.children = planLayerList(layer.layers ?? [], inner, resolved, place, maxPixels);
  return planned;
}

function planText(layer: Layer, frame: LayerFrame, resolved: ResolvedInputs, place: string): PlannedText {
  const input = resolved.get(place);
  if (input?.kind !== 'text') throw new BadRequestError(`${describeLayer('text', place)} has no text`, 'i');
  const size = layer.fs ?? DEFAULT_FONT_SIZE;
  // Without a width (`w`) drawtext (ffmpeg 5.1) left-aligns its lines: one line has nothing to
  // align, several would ignore `ia`.
  if (
    !input.lines &&
    layer.ia &&
    layer.ia !== 'left' &&
    layer.input.kind === 'text' &&
    layer.input.text.includes('\n')
  ) {
    throw new BadRequestError(
      `ia-${layer.ia} is not supported for text of several lines (${describeLayer('text', place)})`,
      'ia',
    );
  }
  const block = input.lines &&
    layer.w && {
      width: lengthPx('w', layer.w, frame, describeLayer('text', place)),
      lineHeight: layer.lh ?? Math.round(size * LINE_HEIGHT),
      lines: input.lines,
      align: layer.ia ?? 'left',
    };
  const planned: PlannedText = {
    kind: 'text',
    place,
    file: input.file,
    position: layerPosition(layer),
    window: layerWindow(layer, frame),
    opacity: opacityOf(layer),
    fontFile: fontFile(layer.ff, layer.tg?.bold ?? false, layer.tg?.italic ?? false),
    size,
    color: layer.co ?? WHITE,
    lineSpacing: layer.lh === undefined ? 0 : Math.max(0, layer.lh - size),
  };
  if (block) planned.block = block;
  if (layer.bg) planned.box = { color: layer.bg, padding: layer.pa?.[0] ?? 0 };
  else if (layer.pa) throw new BadRequestError('pa pads the text background; give bg as well', 'pa');
  return planned;
}

function planLayerList(
  layers: readonly Layer[],
  frame: LayerFrame,
  resolved: ResolvedInputs,
  parent: string,
  maxPixels: number,
): PlannedLayer[] {
  return layers.map((layer, index): PlannedLayer => {
    const place = parent ? `${parent}.${index + 1}` : String(index + 1);
    if (layer.type === 'text') return planText(layer, frame, resolved, place);
    if (layer.type !== 'subtitles') return planPicture(layer, frame, resolved, place, maxPixels);
    const input = resolved.get(place);
    if (input?.kind !== 'subtitles') {
      throw new BadRequestError(`${describeLayer('subtitles', place)} has no input`, 'i');
    }
    return { kind: 'subtitles', place, file: input.file };
  });
}

/**
 * Plans a chain's layers on `frame` (pure): sizes from `w`/`h` (pixels or expressions over the
 * frame), positions as expressions the filter builders render, time windows on the base output's
 * timeline. A layer larger than `maxPixels` is a 422.
 */
export function planLayers(
  layers: readonly Layer[],
  frame: LayerFrame,
  resolved: ResolvedInputs,
  maxPixels: number,
): PlannedLayer[] {
  return planLayerList(layers, frame, resolved, '', maxPixels);
}

/** Whether a layer shows at `time` seconds of the base output (stills: the thumbnail's time). */
export function visibleAt(window: LayerWindow, time: number): boolean {
  return time >= window.start && (window.end === undefined || time < window.end);
}
