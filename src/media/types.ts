/** What ffprobe told us about a source, reduced to what planning needs. Plain data. */
export interface MediaInfo {
  /** Container as ffprobe names it (`mov,mp4,m4a,3gp,3g2,mj2`, `matroska,webm`, ...). */
  formatName: string;
  /** Seconds. */
  duration: number;
  /** Total bit rate in bits per second (0 when unknown). */
  bitRate: number;
  size: number;
  video?: VideoStreamInfo;
  audio?: AudioStreamInfo;
  /** Number of streams of every kind, for the stream-count limit. */
  streamCount: number;
}

export interface VideoStreamInfo {
  codec: string;
  /** Coded width and height, before rotation. */
  codedWidth: number;
  codedHeight: number;
  /** Display width and height, after rotation metadata is applied. */
  width: number;
  height: number;
  /** Clockwise rotation to apply for display: 0, 90, 180 or 270. */
  rotation: 0 | 90 | 180 | 270;
  /** Average frame rate (frames per second). */
  frameRate: number;
  pixelFormat: string;
  bitRate: number;
}

export interface AudioStreamInfo {
  codec: string;
  sampleRate: number;
  channels: number;
  bitRate: number;
}
