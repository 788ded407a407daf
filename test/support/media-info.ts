import type { MediaInfo } from '../../src/media/types.js';

/** The shape of a source, as planners see it; everything else takes a plain default. */
export interface SourceShape {
  /** Seconds (default 12). */
  duration?: number;
  /** Coded and display size (default 1280x720). */
  width?: number;
  height?: number;
  /** Frames per second (default 30). */
  fps?: number;
  /** An AAC track (default true), or its sample rate. */
  audio?: boolean | number;
  /** ffprobe's format name (default the MP4 family's). */
  formatName?: string;
}

/**
 * Probe facts (`MediaInfo`) of an H.264 source of the given shape, for tests of pure planners
 * and argv builders that never see a real file.
 */
export function mediaInfo(shape: SourceShape = {}): MediaInfo {
  const width = shape.width ?? 1280;
  const height = shape.height ?? 720;
  const audio = shape.audio ?? true;
  return {
    formatName: shape.formatName ?? 'mov,mp4,m4a,3gp,3g2,mj2',
    duration: shape.duration ?? 12,
    bitRate: 0,
    size: 1,
    streamCount: audio ? 2 : 1,
    video: {
      codec: 'h264',
      codedWidth: width,
      codedHeight: height,
      width,
      height,
      rotation: 0,
      frameRate: shape.fps ?? 30,
      pixelFormat: 'yuv420p',
      bitRate: 0,
    },
    ...(audio
      ? { audio: { codec: 'aac', sampleRate: audio === true ? 48_000 : audio, channels: 2, bitRate: 0 } }
      : {}),
  };
}
