import { RenderError } from '../../src/errors.js';
import { type Box, BoxReader } from '../../src/media/boxes.js';

/**
 * Readers for the few CMAF fields tests check (tfdt, trun sample counts and durations, the media
 * timescale, the RFC 6381 codec string), on the product's one box reader in strict mode: a
 * segment that does not parse fails the test with a `RenderError` naming the box.
 */

function strictReader(buf: Buffer): BoxReader {
  return new BoxReader(buf, { mode: 'strict', error: (message) => new RenderError(message) });
}

/** What one `moof` says about its first track fragment. */
export interface FragmentInfo {
  trackId: number;
  baseMediaDecodeTime: number;
  sampleCount: number;
  /** Sum of sample durations when the trun or tfhd states them (else undefined). */
  duration: number | undefined;
}

/** Reads every fragment (`moof`/`traf`) of a media segment: tfdt, trun sample counts and durations. */
export function readFragments(media: Buffer): FragmentInfo[] {
  const r = strictReader(media);
  const out: FragmentInfo[] = [];
  for (const traf of r.findAll(['moof', 'traf'])) {
    const tfhd = r.child(traf, 'tfhd');
    const tfdt = r.child(traf, 'tfdt');
    if (!tfhd || !tfdt) throw new RenderError('Track fragment without tfhd or tfdt');
    const tfhdFlags = r.fullBox(tfhd).flags;
    const trackId = r.u32(tfhd, 4);
    let cursor = 8;
    if (tfhdFlags & 0x1) cursor += 8; // base data offset
    if (tfhdFlags & 0x2) cursor += 4; // sample description index
    const defaultDuration = tfhdFlags & 0x8 ? r.u32(tfhd, cursor) : undefined;
    const baseMediaDecodeTime = r.fullBox(tfdt).version === 1 ? Number(r.u64(tfdt, 4)) : r.u32(tfdt, 4);
    let sampleCount = 0;
    let duration: number | undefined = 0;
    for (const trun of r.children(traf).filter((box) => box.type === 'trun')) {
      const { flags } = r.fullBox(trun);
      const count = r.u32(trun, 4);
      sampleCount += count;
      let at = 8;
      if (flags & 0x1) at += 4; // data offset
      if (flags & 0x4) at += 4; // first sample flags
      const fieldBytes = 4 * [0x100, 0x200, 0x400, 0x800].filter((f) => flags & f).length;
      let runDuration: number | undefined;
      if (flags & 0x100) {
        r.table(trun, at, count, fieldBytes);
        runDuration = 0;
        for (let i = 0; i < count; i++) runDuration += r.u32(trun, at + i * fieldBytes);
      } else if (defaultDuration !== undefined) {
        runDuration = defaultDuration * count;
      }
      duration = duration === undefined || runDuration === undefined ? undefined : duration + runDuration;
    }
    out.push({ trackId, baseMediaDecodeTime, sampleCount, duration });
  }
  return out;
}

/** The media timescale of the first track in an init segment. */
export function readTimescale(init: Buffer): number {
  const r = strictReader(init);
  const mdhd = r.findAll(['moov', 'trak', 'mdia', 'mdhd'])[0];
  if (!mdhd) throw new RenderError('Init segment without mdhd');
  return r.u32(mdhd, r.fullBox(mdhd).version === 1 ? 20 : 12);
}

/**
 * The RFC 6381 codec string stated by an init segment: `avc1.PPCCLL` from the avcC record, or
 * `mp4a.40.<audio object type>` from the esds; undefined for anything else.
 */
export function readCodecString(init: Buffer): string | undefined {
  const r = strictReader(init);
  const stsd = r.findAll(['moov', 'trak', 'mdia', 'minf', 'stbl', 'stsd'])[0];
  if (!stsd) return undefined;
  const entry = r.children({ start: stsd.start + 8, end: stsd.end })[0];
  // Child boxes follow the sample entry's fixed fields: 78 bytes for video, 28 for audio (version 0).
  const extensions = (fixed: number) => r.children({ start: entry!.start + fixed, end: entry!.end });
  if (entry?.type === 'avc1' || entry?.type === 'avc3') {
    const avcC = extensions(78).find((box) => box.type === 'avcC');
    if (!avcC) return undefined;
    const profile = [1, 2, 3].map((at) => r.u8(avcC, at).toString(16).padStart(2, '0')).join('');
    return `avc1.${profile}`;
  }
  if (entry?.type === 'mp4a') {
    const esds = extensions(28).find((box) => box.type === 'esds');
    const objectType = esds ? audioObjectType(r, esds) : undefined;
    return objectType === undefined ? undefined : `mp4a.40.${objectType}`;
  }
  return undefined;
}

/** Reads an MPEG-4 descriptor header (tag + variable-length size) at payload offset `at`. */
function descriptor(r: BoxReader, esds: Box, at: number): { tag: number; body: number } | undefined {
  const tag = r.u8(esds, at);
  let cursor = at + 1;
  for (let i = 0; i < 4; i++) if (!(r.u8(esds, cursor++) & 0x80)) return { tag, body: cursor };
  return undefined;
}

/** Walks ES_Descriptor -> DecoderConfigDescriptor -> DecoderSpecificInfo to the AAC object type. */
function audioObjectType(r: BoxReader, esds: Box): number | undefined {
  const es = descriptor(r, esds, 4);
  if (es?.tag !== 0x03) return undefined;
  const esFlags = r.u8(esds, es.body + 2);
  let at = es.body + 3;
  if (esFlags & 0x80) at += 2; // dependsOn_ES_ID
  if (esFlags & 0x40) at += 1 + r.u8(esds, at); // URL
  if (esFlags & 0x20) at += 2; // OCR_ES_ID
  const config = descriptor(r, esds, at);
  if (config?.tag !== 0x04) return undefined;
  const specific = descriptor(r, esds, config.body + 13);
  if (specific?.tag !== 0x05) return undefined;
  return r.u8(esds, specific.body) >> 3;
}
