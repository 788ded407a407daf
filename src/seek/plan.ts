import { BadRequestError, UnsupportedMediaError } from '../errors.js';
import type { MediaInfo } from '../media/types.js';
import { planGeometry } from '../plan/geometry.js';
import type { PlanLimits } from '../plan/types.js';
import type { TransformParams } from '../url/types.js';
import { spriteSheetName } from './layout.js';

/** Seek-preview sprite sheets for a source: tiles at a fixed interval, laid out in grids. */
export interface SpritePlan {
  kind: 'sprites';
  /** Seconds between tiles. */
  interval: number;
  tileWidth: number;
  tileHeight: number;
  columns: number;
  rows: number;
  /** Tiles in the whole track. */
  count: number;
  /** Sheets needed for `count` tiles. */
  sheets: number;
  duration: number;
}

/** Default tile width, as players show seek previews. */
export const DEFAULT_TILE_WIDTH = 160;
/** Most tiles a track lists, so a long video gets a coarser interval rather than many sheets. */
export const MAX_TILES = 200;
const COLUMNS = 10;
const ROWS = 10;

/**
 * Plans the seek-preview track: one tile every `interval` seconds (at least 1 s, coarser for long
 * sources so there are at most `MAX_TILES`), tiles sized by `w`/`h` (160 px wide by default,
 * aspect kept), 10x10 tiles per sheet. Pure.
 */
export function planSprites(params: TransformParams, info: MediaInfo, limits: PlanLimits): SpritePlan {
  if (!info.video) throw new UnsupportedMediaError('The source has no video stream to preview');
  if (!(info.duration > 0))
    throw new UnsupportedMediaError('The source has no known duration to lay a seek track over');
  const sized =
    params.w || params.h ? params : { ...params, w: { kind: 'px' as const, value: DEFAULT_TILE_WIDTH } };
  const geometry = planGeometry({ w: sized.w, h: sized.h }, info.video, {
    even: true,
    defaultBackground: '000000',
    maxOutputPixels: limits.maxOutputPixels,
  });
  if (geometry.width * COLUMNS * geometry.height * ROWS > limits.maxOutputPixels) {
    throw new BadRequestError(
      `Tiles of ${geometry.width}x${geometry.height} make sprite sheets over the output limit; use a smaller w`,
      'w',
    );
  }
  const interval = Math.max(1, Math.ceil(info.duration / MAX_TILES));
  const count = Math.max(1, Math.ceil(info.duration / interval));
  return {
    kind: 'sprites',
    interval,
    tileWidth: geometry.width,
    tileHeight: geometry.height,
    columns: COLUMNS,
    rows: ROWS,
    count,
    sheets: Math.ceil(count / (COLUMNS * ROWS)),
    duration: info.duration,
  };
}

function timestamp(seconds: number): string {
  const ms = Math.round(seconds * 1000);
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.floor((ms % 60_000) / 1000);
  const rest = ms % 1000;
  return `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}.${String(rest).padStart(3, '0')}`;
}

/**
 * The WebVTT seek-preview track: one cue per tile, pointing at its sheet with a `#xywh` media
 * fragment (as video.js, Plyr, Vidstack and ImageKit's player read it). Sheet URLs are relative
 * and repeat `query`, so signatures and `tr` carry over.
 */
export function seekThumbnailTrack(plan: SpritePlan, query: string): string {
  const perSheet = plan.columns * plan.rows;
  const lines = ['WEBVTT', ''];
  for (let i = 0; i < plan.count; i++) {
    const start = i * plan.interval;
    const end = Math.min(plan.duration, start + plan.interval);
    const sheet = Math.floor(i / perSheet);
    const cell = i % perSheet;
    const x = (cell % plan.columns) * plan.tileWidth;
    const y = Math.floor(cell / plan.columns) * plan.tileHeight;
    lines.push(`${timestamp(start)} --> ${timestamp(end)}`);
    lines.push(`${spriteSheetName(sheet)}${query}#xywh=${x},${y},${plan.tileWidth},${plan.tileHeight}`);
    lines.push('');
  }
  return lines.join('\n');
}
