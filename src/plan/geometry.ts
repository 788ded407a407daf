import { BadRequestError, UnprocessableError } from '../errors.js';
import { evaluateExpression } from '../url/index.js';
import type { Dimension, Focus, TransformParams } from '../url/types.js';

/**
 * Geometry is planned once, as a list of simple operations on a frame of known size, and then
 * executed either by sharp (stills) or by an ffmpeg filter graph (video). Both executors are
 * dumb; every ImageKit resize/crop rule lives here.
 */
export type GeometryOp =
  | { op: 'rotate'; degrees: 90 | 180 | 270 }
  | { op: 'resize'; width: number; height: number }
  | { op: 'crop'; x: number; y: number; width: number; height: number }
  | { op: 'pad'; width: number; height: number; x: number; y: number; color: string }
  | { op: 'border'; width: number; color: string }
  | { op: 'round'; radius: number; color: string };

/** The result of planning: operations in order and the size they produce. */
export interface GeometryPlan {
  ops: GeometryOp[];
  width: number;
  height: number;
}

/** Options that differ between stills and video. */
export interface GeometryOptions {
  /** Round every produced size to even numbers (yuv420p video needs it). */
  even: boolean;
  /** Colour used for padding and rounded corners when `bg` is not given. */
  defaultBackground: string;
  /** Largest output in pixels (width * height). */
  maxOutputPixels: number;
  /** Source duration, for expressions that use `idu` (not used for sizes, but validated). */
  duration?: number;
}

/** Longest side of any frame: what ffmpeg's encoders and sharp's AVIF writer accept. */
const MAX_SIDE = 16384;
/** WebP stores each side in 14 bits. */
const WEBP_MAX_SIDE = 16383;

function roundSize(value: number, even: boolean): number {
  if (even) return Math.max(2, Math.round(value / 2) * 2);
  return Math.max(1, Math.round(value));
}

// Float products such as 1280 * (225 / 720) land a hair off the integer they mean.
const EPSILON = 1e-6;

/** Rounds down, so a size that must stay inside a box (`at_max`) never grows past it. */
function floorSize(value: number, even: boolean): number {
  if (even) return Math.max(2, Math.floor(value / 2 + EPSILON) * 2);
  return Math.max(1, Math.floor(value + EPSILON));
}

/** Rounds up, so a size that must cover a box (`at_least`) never falls short of it. */
function ceilSize(value: number, even: boolean): number {
  if (even) return Math.max(2, Math.ceil(value / 2 - EPSILON) * 2);
  return Math.max(1, Math.ceil(value - EPSILON));
}

function resolveDimension(
  dim: Dimension | undefined,
  source: number,
  vars: { iw: number; ih: number },
  name: string,
): number | undefined {
  if (!dim) return undefined;
  let value: number;
  if (dim.kind === 'px') value = dim.value;
  else if (dim.kind === 'fraction') value = dim.value * source;
  else value = evaluateExpression(dim, { iw: vars.iw, ih: vars.ih, iar: vars.iw / vars.ih });
  if (!Number.isFinite(value) || value < 1) {
    throw new BadRequestError(`Parameter '${name}' resolves to ${value}, which is not a positive size`, name);
  }
  if (value > MAX_SIDE)
    throw new BadRequestError(
      `Parameter '${name}' resolves to ${Math.round(value)} px; the maximum is ${MAX_SIDE}`,
      name,
    );
  return value;
}

/** The parameters that decide the output size, as the URL writes them, for a 422 to name. */
function sizeParams(params: TransformParams): string {
  const named = (['w', 'h', 'ar', 'c', 'cm', 'b', 'rt'] as const).filter((key) => params[key] !== undefined);
  return named.length === 0 ? 'the source size' : named.map((key) => `'${key}'`).join(', ');
}

/**
 * The output must fit the pixel limit and every encoder that may write it; an encoder that
 * refuses a size fails after ffmpeg has started, as a 500 instead of this 422. `ar` and `b` can
 * carry a side past the 16384 that `w` and `h` are held to.
 */
function checkOutputSize(params: TransformParams, width: number, height: number, maxPixels: number): void {
  const asked = `The ${width}x${height} output asked for by ${sizeParams(params)}`;
  if (width * height > maxPixels) {
    throw new UnprocessableError(
      `${asked} is ${width * height} pixels; the limit is ${maxPixels}`,
      'output_too_large',
    );
  }
  const maxSide = params.f === 'webp' ? WEBP_MAX_SIDE : MAX_SIDE;
  if (Math.max(width, height) > maxSide) {
    throw new UnprocessableError(
      `${asked} has a side over ${maxSide} px, the most ${params.f === 'webp' ? "'f-webp'" : 'an output'} allows`,
      'output_too_large',
    );
  }
}

/**
 * Where a smaller box sits inside a larger one for a focus. With `even`, offsets are even too:
 * ffmpeg's crop and pad silently round odd offsets down on yuv420p frames, so an odd offset
 * here would plan a picture one pixel away from the one encoded.
 */
function focusOffset(
  focus: Focus,
  outer: { width: number; height: number },
  inner: { width: number; height: number },
  even: boolean,
) {
  const freeX = Math.max(0, outer.width - inner.width);
  const freeY = Math.max(0, outer.height - inner.height);
  const half = (free: number) => (even ? Math.floor(free / 4) * 2 : Math.floor(free / 2));
  // An odd frame leaves an odd margin; the far edge then keeps one pixel rather than shift.
  const all = (free: number) => (even ? free - (free % 2) : free);
  const x = focus.includes('left') ? 0 : focus.includes('right') ? all(freeX) : half(freeX);
  const y = focus.startsWith('top') ? 0 : focus.startsWith('bottom') ? all(freeY) : half(freeY);
  return { x, y };
}

/**
 * The ops that make a `boxW` x `boxH` frame covered by the source scaled by `scale`, cut at
 * `focus`. There are two orders and the one with the smaller intermediate frame wins: scaling
 * first shrinks the frame before the cut (a downscale, as every thumbnail is), cutting first
 * enlarges only the region that is shown (an upscale). The second order is what keeps
 * `w-16384,h-2` from scaling a 1280x720 frame to 16384x9216 (450 MB of RGB) to keep two rows of
 * it: the cut region is never larger than the source, so no frame grows past both the source
 * and the output.
 */
function coverAndCut(
  width: number,
  height: number,
  scale: number,
  boxW: number,
  boxH: number,
  focus: Focus,
  even: boolean,
): GeometryOp[] {
  const coverW = Math.max(boxW, roundSize(width * scale, even));
  const coverH = Math.max(boxH, roundSize(height * scale, even));
  if (coverW === boxW && coverH === boxH) return [{ op: 'resize', width: boxW, height: boxH }];
  // The region of the source that maps onto the box, in whole (even, for video) source pixels.
  const regionW = Math.min(roundSize(boxW / scale, even), even ? width - (width % 2) : width);
  const regionH = Math.min(roundSize(boxH / scale, even), even ? height - (height % 2) : height);
  if (regionW * regionH < coverW * coverH) {
    const ops: GeometryOp[] = [];
    if (regionW !== width || regionH !== height) {
      const at = focusOffset(focus, { width, height }, { width: regionW, height: regionH }, even);
      ops.push({ op: 'crop', x: at.x, y: at.y, width: regionW, height: regionH });
    }
    if (regionW !== boxW || regionH !== boxH) ops.push({ op: 'resize', width: boxW, height: boxH });
    return ops;
  }
  const at = focusOffset(focus, { width: coverW, height: coverH }, { width: boxW, height: boxH }, even);
  return [
    { op: 'resize', width: coverW, height: coverH },
    { op: 'crop', x: at.x, y: at.y, width: boxW, height: boxH },
  ];
}

/**
 * Plans the geometry of `params` for a frame of `source` size (display size, after the source's
 * own rotation metadata is applied). `rt` is applied first, so `w`, `h` and `ar` describe the
 * output as the viewer sees it.
 */
export function planGeometry(
  params: TransformParams,
  source: { width: number; height: number },
  options: GeometryOptions,
): GeometryPlan {
  if (options.even && (source.width < 2 || source.height < 2)) {
    // No even (yuv420p) region can be cut from a side of one pixel.
    throw new UnprocessableError(
      `The source frame is ${source.width}x${source.height}; a video output needs a source of at least 2x2`,
      'source_too_small',
    );
  }
  const ops: GeometryOp[] = [];
  let width = source.width;
  let height = source.height;
  if (params.rt) {
    ops.push({ op: 'rotate', degrees: params.rt });
    if (params.rt !== 180) [width, height] = [height, width];
  }
  const vars = { iw: width, ih: height };
  let targetW = resolveDimension(params.w, width, vars, 'w');
  let targetH = resolveDimension(params.h, height, vars, 'h');
  if (params.ar) {
    const ratio = params.ar.w / params.ar.h;
    if (targetW !== undefined && targetH === undefined) targetH = targetW / ratio;
    else if (targetH !== undefined && targetW === undefined) targetW = targetH * ratio;
    else if (targetW === undefined && targetH === undefined) {
      targetW = width;
      targetH = width / ratio;
    }
  }
  const even = options.even;
  const background = params.bg ?? options.defaultBackground;
  const focus = params.fo ?? 'center';

  if (targetW !== undefined || targetH !== undefined) {
    const mode = params.cm ?? params.c ?? 'maintain_ratio';
    if (mode === 'extract' || mode === 'pad_extract') {
      const boxW = targetW ?? width;
      const boxH = targetH ?? height;
      const cropW = roundSize(Math.min(boxW, width), even);
      const cropH = roundSize(Math.min(boxH, height), even);
      const cropW2 = Math.min(cropW, even ? width - (width % 2) : width);
      const cropH2 = Math.min(cropH, even ? height - (height % 2) : height);
      const at = focusOffset(focus, { width, height }, { width: cropW2, height: cropH2 }, even);
      ops.push({ op: 'crop', x: at.x, y: at.y, width: cropW2, height: cropH2 });
      width = cropW2;
      height = cropH2;
      if (mode === 'pad_extract') {
        const padW = roundSize(boxW, even);
        const padH = roundSize(boxH, even);
        if (padW > width || padH > height) {
          const off = focusOffset('center', { width: padW, height: padH }, { width, height }, even);
          ops.push({ op: 'pad', width: padW, height: padH, x: off.x, y: off.y, color: background });
          width = padW;
          height = padH;
        }
      }
    } else if (targetW !== undefined && targetH !== undefined) {
      const scaleW = targetW / width;
      const scaleH = targetH / height;
      const boxW = roundSize(targetW, even);
      const boxH = roundSize(targetH, even);
      if (mode === 'force') {
        ops.push({ op: 'resize', width: boxW, height: boxH });
        width = boxW;
        height = boxH;
      } else if (mode === 'pad_resize') {
        const scale = Math.min(scaleW, scaleH);
        const innerW = Math.min(boxW, roundSize(width * scale, even));
        const innerH = Math.min(boxH, roundSize(height * scale, even));
        ops.push({ op: 'resize', width: innerW, height: innerH });
        const at = focusOffset(focus, { width: boxW, height: boxH }, { width: innerW, height: innerH }, even);
        if (innerW !== boxW || innerH !== boxH)
          ops.push({ op: 'pad', width: boxW, height: boxH, x: at.x, y: at.y, color: background });
        width = boxW;
        height = boxH;
      } else if (mode === 'at_max' || mode === 'at_least') {
        // at_max fits inside the box without enlarging; at_least covers the box without cropping.
        const fit = mode === 'at_max';
        const scale = fit ? Math.min(scaleW, scaleH, 1) : Math.max(scaleW, scaleH);
        const newW = fit ? floorSize(width * scale, even) : ceilSize(width * scale, even);
        const newH = fit ? floorSize(height * scale, even) : ceilSize(height * scale, even);
        if (newW !== width || newH !== height) ops.push({ op: 'resize', width: newW, height: newH });
        width = newW;
        height = newH;
      } else {
        // maintain_ratio with both sides: the picture covers the box and is cut to it at the focus.
        ops.push(...coverAndCut(width, height, Math.max(scaleW, scaleH), boxW, boxH, focus, even));
        width = boxW;
        height = boxH;
      }
    } else {
      // One side given: scale keeping the aspect ratio (at_max never enlarges).
      const scale = targetW !== undefined ? targetW / width : targetH! / height;
      const applied = mode === 'at_max' ? Math.min(scale, 1) : scale;
      const size = mode === 'at_max' ? floorSize : roundSize;
      const newW = size(width * applied, even);
      const newH = size(height * applied, even);
      if (newW !== width || newH !== height) ops.push({ op: 'resize', width: newW, height: newH });
      width = newW;
      height = newH;
    }
  } else if (even && (width % 2 !== 0 || height % 2 !== 0)) {
    const newW = roundSize(width, true);
    const newH = roundSize(height, true);
    ops.push({ op: 'resize', width: newW, height: newH });
    width = newW;
    height = newH;
  }

  if (params.r !== undefined) {
    const radius =
      params.r === 'max'
        ? Math.floor(Math.min(width, height) / 2)
        : Math.min(params.r, Math.floor(Math.min(width, height) / 2));
    if (radius > 0) ops.push({ op: 'round', radius, color: background });
  }
  if (params.b) {
    const border = even ? Math.ceil(params.b.width / 2) * 2 : params.b.width;
    ops.push({ op: 'border', width: border, color: params.b.color });
    width += border * 2;
    height += border * 2;
  }
  checkOutputSize(params, width, height, options.maxOutputPixels);
  return { ops, width, height };
}
