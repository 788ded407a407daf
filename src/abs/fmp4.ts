import { RenderError } from '../errors.js';

/**
 * Minimal ISO BMFF (MP4) reading for CMAF segments: a top-level box walk that cuts an encoder's
 * fragmented output into the init segment and the media segment, and readers for the few fields
 * tests and callers need (tfdt, trun sample count, timescale, avcC codec string). Pure.
 */

/** One box: where it starts in the buffer, its total size and header size. */
export interface Mp4Box {
  type: string;
  start: number;
  size: number;
  headerSize: number;
}

/** Boxes that hold other boxes, for `findBoxes` paths. */
const CONTAINERS = new Set(['moov', 'trak', 'mdia', 'minf', 'stbl', 'moof', 'traf', 'mvex', 'edts', 'dinf']);

/**
 * The boxes laid end to end in `buf[start, end)`. Throws `RenderError` on a size that runs past
 * the end (a truncated or corrupt encoder output).
 */
export function readBoxes(buf: Buffer, start = 0, end = buf.length): Mp4Box[] {
  const boxes: Mp4Box[] = [];
  let offset = start;
  while (offset + 8 <= end) {
    let size = buf.readUInt32BE(offset);
    const type = buf.toString('latin1', offset + 4, offset + 8);
    let headerSize = 8;
    if (size === 1) {
      if (offset + 16 > end) throw new RenderError(`Truncated large-size '${type}' box at ${offset}`);
      size = Number(buf.readBigUInt64BE(offset + 8));
      headerSize = 16;
    } else if (size === 0) {
      size = end - offset;
    }
    if (size < headerSize || offset + size > end) {
      throw new RenderError(
        `MP4 box '${type}' at ${offset} claims ${size} bytes but only ${end - offset} remain`,
      );
    }
    boxes.push({ type, start: offset, size, headerSize });
    offset += size;
  }
  if (offset !== end) throw new RenderError(`${end - offset} stray bytes after the last MP4 box`);
  return boxes;
}

/** Every box reached by `path` (e.g. `['moof', 'traf', 'tfdt']`), descending through containers. */
export function findBoxes(buf: Buffer, path: readonly string[], start = 0, end = buf.length): Mp4Box[] {
  const [head, ...rest] = path;
  const found: Mp4Box[] = [];
  for (const box of readBoxes(buf, start, end)) {
    if (box.type !== head) continue;
    if (rest.length === 0) found.push(box);
    else if (CONTAINERS.has(box.type))
      found.push(...findBoxes(buf, rest, box.start + box.headerSize, box.start + box.size));
  }
  return found;
}

/** Top-level boxes a media segment may carry; anything else (e.g. the `mfra` index trailer) is dropped. */
const MEDIA_BOXES = new Set(['styp', 'sidx', 'prft', 'emsg', 'moof', 'mdat']);

/**
 * Cuts an encoder's fragmented MP4 into the init segment (`ftyp` + `moov`) and the media segment
 * (the `moof`/`mdat` pairs). Throws `RenderError` when either part is missing.
 */
export function splitInitAndMedia(buf: Buffer): { init: Buffer; media: Buffer } {
  const boxes = readBoxes(buf);
  const slice = (box: Mp4Box) => buf.subarray(box.start, box.start + box.size);
  const init = boxes.filter((b) => b.type === 'ftyp' || b.type === 'moov');
  const media = boxes.filter((b) => MEDIA_BOXES.has(b.type));
  if (!init.some((b) => b.type === 'moov')) throw new RenderError('The encoder output has no moov box');
  if (!media.some((b) => b.type === 'moof'))
    throw new RenderError('The encoder output has no media fragment');
  return { init: Buffer.concat(init.map(slice)), media: Buffer.concat(media.map(slice)) };
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
  const out: FragmentInfo[] = [];
  for (const traf of findBoxes(media, ['moof', 'traf'])) {
    const inner = { start: traf.start + traf.headerSize, end: traf.start + traf.size };
    const tfhd = findBoxes(media, ['tfhd'], inner.start, inner.end)[0];
    const tfdt = findBoxes(media, ['tfdt'], inner.start, inner.end)[0];
    if (!tfhd || !tfdt) throw new RenderError('Track fragment without tfhd or tfdt');
    const tfhdFlags = media.readUIntBE(tfhd.start + 9, 3);
    const trackId = media.readUInt32BE(tfhd.start + 12);
    let cursor = tfhd.start + 16;
    if (tfhdFlags & 0x1) cursor += 8; // base data offset
    if (tfhdFlags & 0x2) cursor += 4; // sample description index
    const defaultDuration = tfhdFlags & 0x8 ? media.readUInt32BE(cursor) : undefined;
    const version = media[tfdt.start + 8];
    const baseMediaDecodeTime =
      version === 1 ? Number(media.readBigUInt64BE(tfdt.start + 12)) : media.readUInt32BE(tfdt.start + 12);
    let sampleCount = 0;
    let duration: number | undefined = 0;
    for (const trun of findBoxes(media, ['trun'], inner.start, inner.end)) {
      const flags = media.readUIntBE(trun.start + 9, 3);
      const count = media.readUInt32BE(trun.start + 12);
      sampleCount += count;
      let at = trun.start + 16;
      if (flags & 0x1) at += 4; // data offset
      if (flags & 0x4) at += 4; // first sample flags
      const fields = [0x100, 0x200, 0x400, 0x800].filter((f) => flags & f).length;
      let runDuration: number | undefined;
      if (flags & 0x100) {
        runDuration = 0;
        for (let i = 0; i < count; i++) runDuration += media.readUInt32BE(at + i * fields * 4);
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
  const mdhd = findBoxes(init, ['moov', 'trak', 'mdia', 'mdhd'])[0];
  if (!mdhd) throw new RenderError('Init segment without mdhd');
  const version = init[mdhd.start + 8];
  return init.readUInt32BE(mdhd.start + (version === 1 ? 28 : 20));
}

/**
 * The RFC 6381 codec string stated by an init segment: `avc1.PPCCLL` from the avcC record, or
 * `mp4a.40.<audio object type>` from the esds; undefined for anything else.
 */
export function readCodecString(init: Buffer): string | undefined {
  const stsd = findBoxes(init, ['moov', 'trak', 'mdia', 'minf', 'stbl', 'stsd'])[0];
  if (!stsd) return undefined;
  const body = init.subarray(stsd.start, stsd.start + stsd.size);
  const avcC = body.indexOf('avcC', 0, 'latin1');
  if (avcC >= 0) return `avc1.${body.subarray(avcC + 5, avcC + 8).toString('hex')}`;
  const esds = body.indexOf('esds', 0, 'latin1');
  if (esds >= 0) {
    const objectType = audioObjectType(body, esds + 8);
    return objectType === undefined ? undefined : `mp4a.40.${objectType}`;
  }
  return undefined;
}

/** Reads an MPEG-4 descriptor header (tag + variable-length size) at `at`. */
function descriptor(buf: Buffer, at: number): { tag: number; body: number } | undefined {
  if (at >= buf.length) return undefined;
  let cursor = at + 1;
  for (let i = 0; i < 4 && cursor < buf.length; i++) {
    const byte = buf[cursor++]!;
    if (!(byte & 0x80)) return { tag: buf[at]!, body: cursor };
  }
  return undefined;
}

/** Walks ES_Descriptor -> DecoderConfigDescriptor -> DecoderSpecificInfo to the AAC object type. */
function audioObjectType(buf: Buffer, esdsPayload: number): number | undefined {
  const es = descriptor(buf, esdsPayload);
  if (es?.tag !== 0x03) return undefined;
  const esFlags = buf[es.body + 2] ?? 0;
  let at = es.body + 3;
  if (esFlags & 0x80) at += 2; // dependsOn_ES_ID
  if (esFlags & 0x40) at += 1 + (buf[at] ?? 0); // URL
  if (esFlags & 0x20) at += 2; // OCR_ES_ID
  const config = descriptor(buf, at);
  if (config?.tag !== 0x04) return undefined;
  const specific = descriptor(buf, config.body + 13);
  if (specific?.tag !== 0x05) return undefined;
  return (buf[specific.body] ?? 0) >> 3;
}
