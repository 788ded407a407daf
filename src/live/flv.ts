/**
 * Pure: FLV framing for the RTMP messages a publisher sends. The same bytes feed the transcoder
 * (stdin) and the recording file, so what is recorded is exactly what was received.
 */

/** FLV file header (audio and/or video flags) plus the first PreviousTagSize. */
export function flvHeader(hasAudio: boolean, hasVideo: boolean): Buffer {
  const header = Buffer.from([0x46, 0x4c, 0x56, 0x01, 0, 0, 0, 0, 9, 0, 0, 0, 0]);
  header[4] = (hasAudio ? 0x04 : 0) | (hasVideo ? 0x01 : 0);
  return header;
}

/** One FLV tag (type 8 audio, 9 video, 18 script data) with its trailing PreviousTagSize. */
export function flvTag(type: number, timestamp: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(11);
  head[0] = type;
  head.writeUIntBE(payload.length, 1, 3);
  head.writeUIntBE(timestamp & 0xffffff, 4, 3);
  head[7] = (timestamp >>> 24) & 0xff;
  const tail = Buffer.alloc(4);
  tail.writeUInt32BE(11 + payload.length);
  return Buffer.concat([head, payload, tail]);
}

/** True for an AVC/HEVC sequence header (codec config, not a picture). */
export function isSequenceHeader(type: number, payload: Buffer): boolean {
  if (type === 9) return payload.length > 1 && (payload[0]! & 0x0f) === 7 && payload[1] === 0;
  if (type === 8) return payload.length > 1 && payload[0]! >> 4 === 10 && payload[1] === 0;
  return false;
}
