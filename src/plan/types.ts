import type { GeometryOp } from './geometry.js';
import type { VideoPlan } from './video.js';

/** Still image formats a thumbnail may be encoded to. */
export type StillFormat = 'jpg' | 'png' | 'webp' | 'avif';

/** Content-Type of each still format. */
export const STILL_CONTENT_TYPES: Record<StillFormat, string> = {
  jpg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  avif: 'image/avif',
};

/** Limits the planner enforces from configuration. */
export interface PlanLimits {
  maxOutputPixels: number;
  maxSourceDuration: number;
  maxSourcePixels: number;
  maxSourceStreams: number;
}

/** Original bytes of the source, untouched. */
export interface OriginalPlan {
  kind: 'original';
}

/** Facts about the source as JSON. */
export interface MetadataPlan {
  kind: 'metadata';
}

/** One still frame. */
export interface ThumbnailPlan {
  kind: 'thumbnail';
  /** Seconds into the source. */
  time: number;
  ops: GeometryOp[];
  width: number;
  height: number;
  format: StillFormat;
  quality: number;
  contentType: string;
}

/** Every kind of output the proxy produces. Later kinds (video, ABS, sprites) join this union. */
export type TransformPlan = OriginalPlan | MetadataPlan | ThumbnailPlan | VideoPlan;
