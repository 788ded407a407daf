import { type Fragment, FragmentReader } from './cmaf.js';
import { codecOfInit, type LiveSegment, type VariantView } from './playlists.js';

/** Segments remembered per variant (and so servable): the window and those just before it. */
const KEPT_SEGMENTS = 14;
/** Video arrival times kept for stamping segments (ms of media). */
const ARRIVAL_HISTORY_MS = 120_000;

/**
 * When each video frame reached the proxy from the publisher, by its (re-stamped) media time:
 * what `EXT-X-PROGRAM-DATE-TIME` says of a segment's first frame.
 */
export class ArrivalClock {
  #frames: Array<[number, number]> = [];
  /** Wall clock of media time 0 (the first frame's arrival less its timestamp). */
  zeroAt: number | undefined;

  /** Notes that the frame at media time `t` (ms) arrived at `arrivedAt`. */
  note(t: number, arrivedAt: number): void {
    this.zeroAt ??= arrivedAt - t;
    this.#frames.push([t, arrivedAt]);
    if (this.#frames.length > 64 && this.#frames[0]![0] < t - ARRIVAL_HISTORY_MS) {
      this.#frames = this.#frames.filter(([time]) => time >= t - ARRIVAL_HISTORY_MS);
    }
  }

  /** Arrival of the frame at media time `t` (ms), by the nearest frame at or before it. */
  at(t: number, fallbackZero: number): number {
    const list = this.#frames;
    let lo = 0;
    let hi = list.length - 1;
    let found: [number, number] | undefined;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid]![0] <= t + 5) {
        found = list[mid];
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (found) return found[1] + Math.max(0, t - found[0]);
    return (this.zeroAt ?? fallbackZero) + t;
  }
}

/**
 * One rendition (or the audio) of a live stream: reads the transcoder's fragmented MP4, makes
 * each CMAF chunk a part, starts a segment at each keyframe (audio: every segment length), and
 * keeps the newest segments in memory.
 */
export class LiveVariant {
  readonly name: string;
  readonly #audio: boolean;
  readonly #reader = new FragmentReader();
  readonly #segmentSeconds: number;
  readonly #partSeconds: number;
  /** Arrival (ms since the epoch) of media time `seconds`. */
  readonly #arrival: (seconds: number) => number;
  init: Buffer | undefined;
  codecs: string | undefined;
  /** Complete segments, oldest first. */
  readonly segments: LiveSegment[] = [];
  /** The segment being cut. */
  open: LiveSegment | undefined;
  #nextSeq = 0;

  constructor(
    name: string,
    options: {
      audio: boolean;
      segmentSeconds: number;
      partSeconds: number;
      arrival: (seconds: number) => number;
    },
  ) {
    this.name = name;
    this.#audio = options.audio;
    this.#segmentSeconds = options.segmentSeconds;
    this.#partSeconds = options.partSeconds;
    this.#arrival = options.arrival;
  }

  /** Feeds transcoder output; throws on bytes no transcoder writes. */
  push(chunk: Buffer): void {
    for (const fragment of this.#reader.push(chunk)) this.#add(fragment);
  }

  #add(fragment: Fragment): void {
    if (!this.init && this.#reader.init) {
      this.init = this.#reader.init;
      this.codecs = codecOfInit(this.init);
    }
    const open = this.open;
    const boundary = this.#audio
      ? open !== undefined && fragment.start - open.start >= this.#segmentSeconds - this.#partSeconds / 2
      : fragment.independent;
    if (open && open.parts.length > 0 && boundary) this.close();
    if (!this.open) {
      this.open = {
        seq: this.#nextSeq++,
        start: fragment.start,
        duration: 0,
        arrivedAt: Math.round(this.#arrival(fragment.start)),
        parts: [],
      };
    }
    this.open.parts.push({
      duration: fragment.duration,
      independent: fragment.independent,
      bytes: fragment.bytes,
    });
    this.open.duration += fragment.duration;
  }

  /** Completes the open segment (a new keyframe, or the end of the output). */
  close(): void {
    const open = this.open;
    this.open = undefined;
    if (!open || open.parts.length === 0) return;
    // Joined once here, not on every request for the segment; the parts become views of the
    // joined bytes, so nothing is held twice.
    const bytes = Buffer.concat(open.parts.map((part) => part.bytes));
    let offset = 0;
    for (const part of open.parts) {
      part.bytes = bytes.subarray(offset, offset + part.bytes.length);
      offset += part.bytes.length;
    }
    open.bytes = bytes;
    this.segments.push(open);
    if (this.segments.length > KEPT_SEGMENTS) this.segments.splice(0, this.segments.length - KEPT_SEGMENTS);
  }

  view(): VariantView {
    return { name: this.name, segments: this.segments, open: this.open, codecs: this.codecs };
  }

  /** A complete segment's bytes (its parts joined); undefined when not (or no longer) kept. */
  segmentBytes(seq: number): Buffer | undefined {
    return this.segments.find((s) => s.seq === seq)?.bytes;
  }

  /** A part's bytes, from a complete segment or the open one. */
  partBytes(seq: number, index: number): Buffer | undefined {
    const segment = this.open?.seq === seq ? this.open : this.segments.find((s) => s.seq === seq);
    return segment?.parts[index]?.bytes;
  }
}
