import { inputArgs, seconds } from '../media/argv.js';
import { FONT_DIR } from './fonts.js';
import type { LayerWindow, PlannedLayer, PlannedPicture, PlannedText, PositionExpr } from './plan.js';
import type { LayerColor } from './types.js';

/**
 * Pure ffmpeg filter-graph builders for planned layers. No user-written text ever reaches a
 * graph: text and subtitles are read from files the proxy wrote (`textfile=`, `subtitles=`), file
 * names are the proxy's own (checked against a strict pattern), and every number and expression
 * is generated here from validated values.
 */

/** What a chain of layers adds to an ffmpeg command. */
export interface LayerGraph {
  /** Input arguments for the layers' files, to append after the inputs already given. */
  inputs: string[];
  /** Filters from `[in]` to `[out]` (labels without brackets given to `layerGraph`). */
  graph: string;
}

/** Options for `layerGraph`. */
export interface LayerGraphOptions {
  /** ffmpeg's index of the first layer input (the inputs before it are the base's). */
  firstInput: number;
  /**
   * Seconds of the base output's timeline at which the frames' timestamps start (a segment's
   * start, a thumbnail's time): timing windows and subtitle cues are on the output's timeline.
   */
  timeOffset: number;
  /** Output pixel format after the layers (`yuv420p` for video; `rgba` keeps a still's alpha). */
  format: string;
  /**
   * One still frame at `timeOffset`: the caller keeps only the layers visible then, a video layer
   * is seeked to its frame at that time, and only subtitles need the frame's time (one frame has
   * no later frames to wait for, so nothing is synchronised by timestamps).
   */
  still?: boolean;
}

/** A file name the proxy made: nothing a filter-graph parser would treat specially. */
const SAFE_PATH = /^[A-Za-z0-9/._-]+$/;

function safePath(path: string): string {
  if (!SAFE_PATH.test(path)) throw new Error(`Unsafe path for a filter graph: ${path}`);
  return path;
}

function color(value: LayerColor, opacity = 1): string {
  return `0x${value.rgb}@${(value.opacity * opacity).toFixed(2)}`;
}

type Vars = Record<'bw' | 'bh' | 'cw' | 'ch' | 'bar', string>;

const OVERLAY_VARS: Vars = { bw: 'W', bh: 'H', cw: 'w', ch: 'h', bar: '(W/H)' };

/** Renders a position term as an ffmpeg expression (numbers, variables, + - * / mod pow). */
export function renderPosition(expr: PositionExpr, vars: Vars): string {
  switch (expr.op) {
    case 'num':
      return String(expr.value);
    case 'var':
      return vars[expr.name];
    case 'add':
      return `(${renderPosition(expr.a, vars)}+${renderPosition(expr.b, vars)})`;
    case 'sub':
      return `(${renderPosition(expr.a, vars)}-${renderPosition(expr.b, vars)})`;
    case 'mul':
      return `(${renderPosition(expr.a, vars)}*${renderPosition(expr.b, vars)})`;
    case 'div':
      return `(${renderPosition(expr.a, vars)}/${renderPosition(expr.b, vars)})`;
    case 'mod':
      return `mod(${renderPosition(expr.a, vars)},${renderPosition(expr.b, vars)})`;
    case 'pow':
      return `pow(${renderPosition(expr.a, vars)},${renderPosition(expr.b, vars)})`;
  }
}

/** `enable=` for a timing window on the (shifted) output timeline; undefined when always shown. */
export function enableExpr(window: LayerWindow): string | undefined {
  if (window.start <= 0 && window.end === undefined) return undefined;
  if (window.end === undefined) return `gte(t,${seconds(window.start)})`;
  return `between(t,${seconds(window.start)},${seconds(window.end - 0.0005)})`;
}

/** The alpha of a rounded rectangle of radius `r` for geq on an RGBA picture. */
function roundedAlpha(r: number): string {
  const dx = `max(${r}-X,0)+max(X-(W-1-${r}),0)`;
  const dy = `max(${r}-Y,0)+max(Y-(H-1-${r}),0)`;
  return `if(gt(hypot(${dx},${dy}),${r}),0,alpha(X,Y))`;
}

interface Builder {
  timeOffset: number;
  still: boolean;
  inputs: string[];
  filters: string[];
  nextInput: number;
  nextLabel: number;
}

function label(b: Builder, prefix: string): string {
  return `${prefix}${b.nextLabel++}`;
}

/** Rotates an image or video layer's picture by `rt` and fits it into the planned size. */
function turnAndFit(layer: PlannedPicture): string[] {
  const steps: string[] = [];
  if (layer.rotate === 90) steps.push('transpose=clock');
  if (layer.rotate === 270) steps.push('transpose=cclock');
  if (layer.rotate === 180) steps.push('hflip', 'vflip');
  const { width: w, height: h } = layer;
  if (layer.fit === 'cover')
    steps.push(`scale=${w}:${h}:force_original_aspect_ratio=increase`, `crop=${w}:${h}`);
  else if (layer.fit === 'contain') steps.push(`scale=${w}:${h}:force_original_aspect_ratio=decrease`);
  else steps.push(`scale=${w}:${h}`);
  return steps;
}

/** The picture's own chain (decode, rotate, fit, corners, border, opacity, nested layers). */
function pictureChain(b: Builder, layer: PlannedPicture): string {
  const steps: string[] = [];
  let source: string;
  if (layer.file) {
    b.inputs.push('-protocol_whitelist', 'file', '-f', 'png_pipe', '-i', safePath(layer.file));
    source = `[${b.nextInput++}:v]`;
    steps.push('format=rgba', ...turnAndFit(layer));
  } else if (layer.video) {
    // Picture-in-picture: the layer plays from its own start when its window opens. A segment
    // or still later on the timeline seeks the layer's input to where it would be by then.
    const seek = Math.max(0, b.timeOffset - layer.window.start);
    b.inputs.push(...inputArgs(layer.video, seek));
    source = `[${b.nextInput++}:v:0]`;
    const at = b.still ? 0 : layer.window.start + seek;
    steps.push(`setpts=PTS-STARTPTS+${seconds(at)}/TB`, 'format=rgba', ...turnAndFit(layer));
  } else {
    source = '';
    steps.push(
      `color=c=0x${layer.color?.rgb ?? 'FFFFFF'}:s=${layer.width}x${layer.height}:r=1:d=1`,
      'format=rgba',
    );
  }
  steps.push('setsar=1');
  if (layer.radius) {
    steps.push(`geq=r='r(X,Y)':g='g(X,Y)':b='b(X,Y)':a='${roundedAlpha(layer.radius)}'`);
  }
  if (layer.border) {
    const w = layer.border.width;
    steps.push(`pad=iw+${2 * w}:ih+${2 * w}:${w}:${w}:color=${color(layer.border.color)}`);
  }
  if (layer.opacity < 1) steps.push(`colorchannelmixer=aa=${layer.opacity.toFixed(2)}`);
  let out = label(b, 'lp');
  b.filters.push(`${source}${steps.join(',')}[${out}]`);
  for (const child of layer.children) out = place(b, child, out, 'rgb');
  return out;
}

/**
 * A text with a width: a block `width` wide and one line high per line (plus padding), its
 * background drawn as one box, each line drawn from its own file and aligned inside the block.
 */
function textBlockFilters(
  layer: PlannedText,
  block: NonNullable<PlannedText['block']>,
  still: boolean,
): string {
  const pad = layer.box?.padding ?? 0;
  const cw = String(block.width + 2 * pad);
  const ch = String(block.lines.length * block.lineHeight + 2 * pad);
  const enable = still ? undefined : enableExpr(layer.window);
  const timed = enable ? [`enable='${enable}'`] : [];
  const filters: string[] = [];
  if (layer.box) {
    // drawbox names the frame `iw`/`ih` (its `w`/`h` are the box's own).
    const boxVars: Vars = { bw: 'iw', bh: 'ih', cw, ch, bar: '(iw/ih)' };
    filters.push(
      `drawbox=${[
        `x='${renderPosition(layer.position.x, boxVars)}'`,
        `y='${renderPosition(layer.position.y, boxVars)}'`,
        `w=${cw}`,
        `h=${ch}`,
        `color=${color(layer.box.color, layer.opacity)}`,
        't=fill',
        ...timed,
      ].join(':')}`,
    );
  }
  const vars: Vars = { bw: 'W', bh: 'H', cw, ch, bar: '(W/H)' };
  const x = renderPosition(layer.position.x, vars);
  const y = renderPosition(layer.position.y, vars);
  const inset =
    block.align === 'center'
      ? `+(${block.width}-tw)/2`
      : block.align === 'right'
        ? `+(${block.width}-tw)`
        : '';
  block.lines.forEach((file, index) => {
    const options = [
      `textfile='${safePath(file)}'`,
      `fontfile='${safePath(layer.fontFile)}'`,
      'expansion=none',
      `fontsize=${layer.size}`,
      `fontcolor=${color(layer.color)}`,
      `x='${x}+${pad}${inset}'`,
      `y='${y}+${pad + index * block.lineHeight}'`,
    ];
    if (layer.opacity < 1) options.push(`alpha=${layer.opacity.toFixed(2)}`);
    filters.push(`drawtext=${[...options, ...timed].join(':')}`);
  });
  return filters.join(',');
}

function textFilter(layer: PlannedText, still: boolean): string {
  if (layer.block) return textBlockFilters(layer, layer.block, still);
  const pad = layer.box?.padding ?? 0;
  // Positions count the padded box; drawtext places the glyphs, so shift by the padding.
  const vars: Vars = { bw: 'W', bh: 'H', cw: `(tw+${2 * pad})`, ch: `(th+${2 * pad})`, bar: '(W/H)' };
  const options = [
    `textfile='${safePath(layer.file)}'`,
    `fontfile='${safePath(layer.fontFile)}'`,
    'expansion=none',
    `fontsize=${layer.size}`,
    `fontcolor=${color(layer.color)}`,
    `line_spacing=${layer.lineSpacing}`,
    `x='${renderPosition(layer.position.x, vars)}+${pad}'`,
    `y='${renderPosition(layer.position.y, vars)}+${pad}'`,
  ];
  if (layer.box) options.push('box=1', `boxcolor=${color(layer.box.color)}`, `boxborderw=${pad}`);
  if (layer.opacity < 1) options.push(`alpha=${layer.opacity.toFixed(2)}`);
  const enable = still ? undefined : enableExpr(layer.window);
  if (enable) options.push(`enable='${enable}'`);
  return `drawtext=${options.join(':')}`;
}

/** Puts one layer on the frame labelled `base`; returns the new frame's label. */
function place(b: Builder, layer: PlannedLayer, base: string, format: 'auto' | 'rgb'): string {
  const out = label(b, 'lb');
  switch (layer.kind) {
    case 'picture': {
      const picture = pictureChain(b, layer);
      const options = [
        `x='${renderPosition(layer.position.x, OVERLAY_VARS)}'`,
        `y='${renderPosition(layer.position.y, OVERLAY_VARS)}'`,
        // An image is one frame shown for the whole window; a video layer leaves when it ends.
        `eof_action=${layer.video ? 'pass' : 'repeat'}`,
        `format=${format}`,
      ];
      const enable = b.still ? undefined : enableExpr(layer.window);
      if (enable) options.push(`enable='${enable}'`);
      b.filters.push(`[${base}][${picture}]overlay=${options.join(':')}[${out}]`);
      return out;
    }
    case 'text':
      b.filters.push(`[${base}]${textFilter(layer, b.still)}[${out}]`);
      return out;
    case 'subtitles': {
      const subtitles = `subtitles=filename='${safePath(layer.file)}':fontsdir='${FONT_DIR}'`;
      const shift = b.still && b.timeOffset > 0 ? seconds(b.timeOffset) : undefined;
      const chain = shift ? `setpts=PTS+${shift}/TB,${subtitles},setpts=PTS-${shift}/TB` : subtitles;
      b.filters.push(`[${base}]${chain}[${out}]`);
      return out;
    }
  }
}

/**
 * The filters that put `layers` on the frames labelled `input`, ending at `output`. Timestamps
 * are shifted by `timeOffset` around the layers, so a segment or a still meets its windows and
 * cues where the whole output would.
 */
export function layerGraph(
  layers: readonly PlannedLayer[],
  input: string,
  output: string,
  options: LayerGraphOptions,
): LayerGraph {
  const b: Builder = {
    timeOffset: options.timeOffset,
    still: options.still ?? false,
    inputs: [],
    filters: [],
    nextInput: options.firstInput,
    nextLabel: 0,
  };
  const shift = options.timeOffset > 0 && !options.still ? seconds(options.timeOffset) : undefined;
  let current = label(b, 'lb');
  b.filters.push(`[${input}]${shift ? `setpts=PTS+${shift}/TB` : 'null'}[${current}]`);
  for (const layer of layers) current = place(b, layer, current, 'auto');
  b.filters.push(`[${current}]${shift ? `setpts=PTS-${shift}/TB,` : ''}format=${options.format}[${output}]`);
  return { inputs: b.inputs, graph: b.filters.join(';') };
}

/**
 * argv that composites `layers` onto one still frame (a PNG file the proxy wrote) and writes a
 * PNG to stdout. The graph must read `[0:v]` and end at `[out]`.
 */
export function stillLayerArgs(frameFile: string, layers: LayerGraph): string[] {
  return [
    ...['-hide_banner', '-nostdin', '-loglevel', 'error', '-threads', '1'],
    ...['-protocol_whitelist', 'file', '-f', 'png_pipe', '-i', safePath(frameFile)],
    ...layers.inputs,
    ...['-filter_complex', layers.graph, '-map', '[out]', '-frames:v', '1'],
    ...['-c:v', 'png', '-f', 'image2pipe', 'pipe:1'],
  ];
}
