import type { GeometryOp } from './geometry.js';

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
