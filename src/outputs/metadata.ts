import type { MediaInfo } from '../media/types.js';
import type { SourceStat } from '../origin/types.js';
import type { BufferedKind } from './types.js';

/** The JSON document `/ik-metadata.json` returns. */
export function metadataDocument(info: MediaInfo, stat: SourceStat) {
  return {
    // Raw elementary streams carry no duration; say unknown rather than a false 0.
    duration: info.duration > 0 ? Math.round(info.duration * 1000) / 1000 : null,
    width: info.video?.width ?? null,
    height: info.video?.height ?? null,
    rotation: info.video?.rotation ?? 0,
    frameRate: info.video ? Math.round(info.video.frameRate * 1000) / 1000 : null,
    videoCodec: info.video?.codec ?? null,
    audioCodec: info.audio?.codec ?? null,
    bitRate: info.bitRate || null,
    size: stat.size,
    format: info.formatName,
    hasAudio: Boolean(info.audio),
    audio: info.audio
      ? { codec: info.audio.codec, sampleRate: info.audio.sampleRate, channels: info.audio.channels }
      : null,
    lastModified: stat.lastModified?.toISOString() ?? null,
  };
}

/** `/ik-metadata.json`: the probe's facts as JSON; no job. */
export const metadataKind: BufferedKind<'metadata'> = {
  name: 'metadata',
  mode: 'buffered',
  description: 'metadata (ik-metadata.json)',
  accepts: [],
  identify: () => ({ canonical: '', variant: '' }),
  async produce({ facts }) {
    const body = Buffer.from(JSON.stringify(metadataDocument(facts.info, facts.stat), null, 2));
    return { contentType: 'application/json; charset=utf-8', body };
  },
};
