import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { startProcess } from '../media/runner.js';
import type { JobLimiter } from '../render/limiter.js';
import type { Logger } from '../render/service.js';
import type { AmfObject } from './amf0.js';
import { decodeAmf0 } from './amf0.js';
import { flvHeader, flvTag, isSequenceHeader } from './flv.js';
import {
  AUDIO_VARIANT,
  type LiveRung,
  liveRungs,
  liveTranscodeArgs,
  liveVariantNames,
  THUMBNAIL_FILE,
} from './ladder.js';
import type { StreamView, VariantView } from './playlists.js';
import type { MediaSink, RtmpSession } from './rtmp.js';
import { ArrivalClock, LiveVariant } from './variant.js';

/** What every live stream shares (resolved once from configuration). */
export interface LiveStreamSettings {
  ffmpegPath: string;
  /** The configured ladder heights (`LIVE_SR`). */
  heights: readonly number[];
  segmentSeconds: number;
  /** Part length, seconds (LL-HLS parts, CMAF chunks). */
  partSeconds: number;
  /** Segments in the live window. */
  window: number;
  /** How long a dropped publisher may reconnect into the same stream. */
  graceMs: number;
  /** Longest a stream may run (the transcoder's wall-clock limit). */
  maxDurationMs: number;
  limiter: JobLimiter;
  log: Logger;
}

/** Lifecycle of a stream. `interrupted`: the publisher dropped and may come back. */
export type LiveState = 'starting' | 'live' | 'interrupted' | 'ended';

/** Figures for `/metrics`. */
export interface LiveStats {
  ingestBitsPerSecond: number;
  droppedFrames: number;
  encoderSpeed: number;
  frames: number;
}

/** Media buffered before the transcoder starts (it needs the stream's shape first). */
const MAX_EARLY_BYTES = 8 * 1024 * 1024;
/** What one buffered tag costs beyond its payload (its entry), so tiny tags cannot pile up uncounted. */
const EARLY_TAG_COST = 64;
/** Media without a picture after which a publisher is refused (an audio-only stream). */
const NO_VIDEO_MS = 5000;
/** Blocking requests held at once per stream (each is a socket and a closure). */
const MAX_WAITERS = 2000;
/** Time the transcoder gets to flush its last segment after its input ends. */
const FLUSH_MS = 15_000;
/** `PART-TARGET` over the requested part length: audio chunks end on whole AAC frames (0.51 s for 0.5 s). */
const PART_TARGET_MARGIN = 1.1;

/** Someone waiting for a part or segment (a blocking playlist reload, a preload-hinted part). */
interface Waiter {
  ready: () => boolean;
  resolve: () => void;
}

/**
 * One live stream: the FLV that the publisher's messages make is fed to one ffmpeg job (which
 * holds a job-limiter slot for the whole stream) and written to the recording file; the
 * transcoder's fragmented MP4 outputs are cut into parts (each CMAF chunk) and segments (from a
 * keyframe to the next), kept in memory for the window, and stamped with the wall-clock arrival
 * of their first frame. A publisher that drops leaves the transcoder waiting for `graceMs`; a
 * reconnect continues the same media timeline, so both the live playlist and the recording go
 * on as one.
 */
export class LiveStream {
  readonly name: string;
  /** Distinguishes this run of `name` in URLs, so segment URLs are never reused by a later run. */
  readonly id: string;
  readonly dir: string;
  readonly recordingPath: string;
  readonly startedAt = Date.now();
  state: LiveState = 'starting';
  /** Why it ended, for logs. */
  endReason: string | undefined;
  rungs: LiveRung[] = [];
  hasAudio = false;
  readonly #settings: LiveStreamSettings;
  readonly #onEnded: (stream: LiveStream) => void;
  #session: RtmpSession | undefined;
  #early: Array<{ type: number; timestamp: number; payload: Buffer; arrivedAt: number }> = [];
  #earlyBytes = 0;
  /** Video tags in `#early` (counted, not searched for on every tag). */
  #earlyVideo = 0;
  #metadata: AmfObject | undefined;
  #sequenceHeaders = new Map<number, Buffer>();
  #stdin: PassThrough | undefined;
  #recording: WriteStream | undefined;
  #recordingFailed = false;
  #transcoder: Promise<void> | undefined;
  #abort = new AbortController();
  #variants: LiveVariant[] = [];
  #waiters = new Set<Waiter>();
  #graceTimer: NodeJS.Timeout | undefined;
  /** Offset added to this publisher connection's timestamps; the first tag of each run maps to it. */
  #base: number | undefined;
  #offset = 0;
  #lastTimestamp = 0;
  readonly #clock = new ArrivalClock();
  #bytes = 0;
  #rateSample = { at: Date.now(), bytes: 0, bitsPerSecond: 0 };
  #progress = { speed: 0, dropped: 0, frames: 0 };
  #ending: Promise<void> | undefined;

  constructor(
    name: string,
    workDir: string,
    settings: LiveStreamSettings,
    onEnded: (stream: LiveStream) => void,
  ) {
    this.name = name;
    this.id = this.startedAt.toString(36);
    this.dir = path.join(workDir, `${name}-${this.id}`);
    this.recordingPath = path.join(this.dir, 'recording.flv');
    this.#settings = settings;
    this.#onEnded = onEnded;
  }

  /** Attaches a (re)connected publisher; returns where its media goes. */
  attach(session: RtmpSession): MediaSink {
    clearTimeout(this.#graceTimer);
    this.#session = session;
    this.#base = undefined;
    if (this.state === 'interrupted') this.state = this.#transcoder ? 'live' : 'starting';
    return {
      media: (type, timestamp, payload, arrivedAt) => {
        if (this.#session === session) this.#media(type, timestamp, payload, arrivedAt);
      },
      end: (how) => {
        if (this.#session !== session) return;
        this.#session = undefined;
        if (how === 'unpublish') void this.end('the publisher stopped');
        else this.#interrupted();
      },
    };
  }

  /** True while a publisher is connected (a second one is refused). */
  get hasPublisher(): boolean {
    return this.#session !== undefined;
  }

  #interrupted(): void {
    if (this.state === 'ended') return;
    this.state = 'interrupted';
    this.#settings.log.info(
      { stream: this.name, graceMs: this.#settings.graceMs },
      'live publisher dropped; waiting for a reconnect',
    );
    this.#graceTimer = setTimeout(
      () => void this.end('the publisher did not come back'),
      this.#settings.graceMs,
    );
    this.#graceTimer.unref();
  }

  #media(type: number, timestamp: number, payload: Buffer, arrivedAt: number): void {
    if (this.state === 'ended') return;
    this.#bytes += payload.length;
    if (type === 18) {
      this.#metadata ??= (decodeAmf0(payload)[1] as AmfObject | undefined) ?? {};
      // A resumed publisher's metadata is not repeated into the running stream.
      if (this.#transcoder) return;
    }
    if (isSequenceHeader(type, payload)) {
      const known = this.#sequenceHeaders.get(type);
      this.#sequenceHeaders.set(type, payload);
      // The same codec configuration again (a reconnect) is not repeated.
      if (known?.equals(payload) && this.#transcoder) return;
    }
    if (this.#base === undefined) {
      this.#base = timestamp;
      if (this.#transcoder || this.#early.length > 0) this.#offset = this.#lastTimestamp + 33;
    }
    const stamped = Math.max(0, timestamp - this.#base + this.#offset);
    if (type === 9 || type === 8) this.#lastTimestamp = Math.max(this.#lastTimestamp, stamped);
    if (type === 9) {
      this.#clock.note(stamped, arrivedAt);
    }
    if (!this.#transcoder) {
      this.#early.push({ type, timestamp: stamped, payload, arrivedAt });
      this.#earlyBytes += payload.length + EARLY_TAG_COST;
      if (type === 9) this.#earlyVideo++;
      if (this.#readyToStart()) {
        try {
          this.#start();
        } catch (error) {
          // The working folder or recording file could not be made (a full or read-only disk).
          this.#settings.log.error({ err: error, stream: this.name }, 'live stream could not start');
          void this.end('the stream could not start');
        }
      } else if (this.#noVideo()) void this.end('the publisher sends no video');
      else if (this.#earlyBytes > MAX_EARLY_BYTES) this.#session?.pause();
      return;
    }
    this.#write(flvTag(type, stamped, payload));
  }

  /** Seconds of media and not one picture: an audio-only publisher, which a video ladder cannot serve. */
  #noVideo(): boolean {
    const first = this.#early[0]?.timestamp ?? 0;
    const last = this.#early.at(-1)?.timestamp ?? 0;
    return last - first >= NO_VIDEO_MS && this.#earlyVideo === 0;
  }

  /** Enough is known to shape the ladder: the metadata plus a picture, or a second of media. */
  #readyToStart(): boolean {
    if (this.#earlyVideo === 0) return false;
    const first = this.#early[0]!.timestamp;
    const last = this.#early.at(-1)!.timestamp;
    return (
      (this.#metadata !== undefined && this.#earlyVideo > 1) ||
      last - first >= 1000 ||
      this.#earlyBytes > MAX_EARLY_BYTES / 2
    );
  }

  #write(tag: Buffer): void {
    if (this.#recording && !this.#recordingFailed) this.#recording.write(tag);
    const stdin = this.#stdin;
    if (stdin && !stdin.writableEnded && !stdin.write(tag)) {
      const session = this.#session;
      session?.pause();
      stdin.once('drain', () => session?.resume());
    }
  }

  #start(): void {
    const meta = this.#metadata ?? {};
    const width = typeof meta.width === 'number' ? meta.width : undefined;
    const height = typeof meta.height === 'number' ? meta.height : undefined;
    this.hasAudio = this.#early.some((tag) => tag.type === 8) || meta.audiocodecid !== undefined;
    this.rungs = liveRungs(this.#settings.heights, { width, height });
    const early = this.#early;
    this.#early = [];
    this.#earlyBytes = 0;
    this.#earlyVideo = 0;
    this.#stdin = new PassThrough({ highWaterMark: 1024 * 1024 });
    const { segmentSeconds, partSeconds } = this.#settings;
    this.#variants = liveVariantNames(this.rungs, this.hasAudio).map(
      (name) =>
        new LiveVariant(name, {
          audio: name === AUDIO_VARIANT,
          segmentSeconds,
          partSeconds,
          arrival: (seconds) => this.#clock.at(seconds * 1000, this.startedAt),
        }),
    );
    const header = flvHeader(this.hasAudio, true);
    const firstBytes = Buffer.concat([
      header,
      ...early.map((tag) => flvTag(tag.type, tag.timestamp, tag.payload)),
    ]);
    // Synchronous, so every later tag lands after these bytes in both places.
    mkdirSync(this.dir, { recursive: true });
    this.#recording = createWriteStream(this.recordingPath);
    this.#recording.on('error', (error) => {
      // A full disk: the recording keeps what was written; the stream itself goes on.
      this.#recordingFailed = true;
      this.#settings.log.error({ err: error, stream: this.name }, 'live recording write failed');
    });
    this.#recording.write(firstBytes);
    this.#stdin.write(firstBytes);
    this.#transcoder = this.#run();
    this.#session?.resume();
  }

  async #run(): Promise<void> {
    const { limiter, log, ffmpegPath, segmentSeconds, partSeconds, maxDurationMs } = this.#settings;
    try {
      await limiter.run(
        async (signal) => {
          const args = liveTranscodeArgs({
            rungs: this.rungs,
            hasAudio: this.hasAudio,
            segmentSeconds,
            partSeconds,
            outDir: this.dir,
          });
          const proc = startProcess(ffmpegPath, args, {
            timeoutMs: maxDurationMs,
            signal: AbortSignal.any([signal, this.#abort.signal]),
            stdin: this.#stdin,
            extraOutputs: this.#variants.length,
          });
          proc.stdout.setEncoding('utf8');
          let pending = '';
          proc.stdout.on('data', (chunk: string) => {
            pending += chunk;
            const lines = pending.split('\n');
            pending = lines.pop() ?? '';
            for (const line of lines) this.#progressLine(line);
          });
          const outputsDone = this.#variants.map(
            (variant, i) =>
              new Promise<void>((resolve) => {
                const output = proc.outputs[i]!;
                output.on('data', (chunk: Buffer) => {
                  try {
                    variant.push(chunk);
                    this.#wake();
                  } catch (error) {
                    log.error({ err: error, stream: this.name }, 'live transcoder output unreadable');
                    proc.kill();
                  }
                });
                output.once('close', () => resolve());
                output.once('error', () => resolve());
              }),
          );
          if (this.state === 'starting') this.state = 'live';
          log.info(
            { stream: this.name, rungs: this.rungs.map((r) => r.name), audio: this.hasAudio },
            'live transcoder started',
          );
          try {
            await proc.done;
          } finally {
            await Promise.all(outputsDone);
          }
        },
        'high',
        this.#abort.signal,
      );
    } catch (error) {
      if (this.state !== 'ended') log.warn({ err: error, stream: this.name }, 'live transcoder stopped');
    } finally {
      // The last segment of each variant is complete once its output has ended.
      for (const variant of this.#variants) variant.close();
      this.#wake();
      // A transcoder that died on its own ends the stream (the recording keeps what arrived).
      if (this.state !== 'ended') void this.end('the transcoder stopped');
    }
  }

  #progressLine(line: string): void {
    const [key, value] = line.split('=');
    if (key === 'speed') this.#progress.speed = Number.parseFloat(value ?? '') || 0;
    else if (key === 'drop_frames') this.#progress.dropped = Number(value) || 0;
    else if (key === 'frame') this.#progress.frames = Number(value) || 0;
  }

  #wake(): void {
    for (const waiter of this.#waiters) {
      if (this.state === 'ended' || waiter.ready()) {
        this.#waiters.delete(waiter);
        waiter.resolve();
      }
    }
  }

  /**
   * Resolves when `ready()` holds, the stream ends, or `timeoutMs` passes (blocking requests).
   * At most `MAX_WAITERS` are held; beyond, requests are answered at once with what there is.
   */
  waitUntil(ready: () => boolean, timeoutMs: number): Promise<void> {
    if (ready() || this.state === 'ended' || this.#waiters.size >= MAX_WAITERS) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter: Waiter = {
        ready,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        resolve();
      }, timeoutMs);
      timer.unref();
      this.#waiters.add(waiter);
    });
  }

  /**
   * Ends the stream: the transcoder's input is closed so it writes its last fragments and exits,
   * the playlists then end, and the recording file is closed. Idempotent.
   */
  end(reason: string): Promise<void> {
    // Callers do not await this (`void stream.end(...)`): it must never reject.
    this.#ending ??= this.#end(reason).catch((error: unknown) =>
      this.#settings.log.error({ err: error, stream: this.name }, 'live stream did not end cleanly'),
    );
    return this.#ending;
  }

  async #end(reason: string): Promise<void> {
    clearTimeout(this.#graceTimer);
    this.endReason = reason;
    const session = this.#session;
    this.#session = undefined;
    session?.close(reason);
    this.#stdin?.end();
    if (this.#transcoder) {
      const flushed = await Promise.race([
        this.#transcoder.then(() => true),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(false), FLUSH_MS).unref()),
      ]);
      if (!flushed) {
        this.#abort.abort();
        await this.#transcoder;
      }
    }
    for (const variant of this.#variants) variant.close();
    this.state = 'ended';
    this.#wake();
    await new Promise<void>((resolve) => {
      const recording = this.#recording;
      if (!recording || recording.closed || recording.destroyed || this.#recordingFailed) resolve();
      else {
        recording.end(() => resolve());
        // A file that fails while closing still lets the stream end.
        recording.once('error', () => resolve());
      }
    });
    this.#settings.log.info({ stream: this.name, reason }, 'live stream ended');
    this.#onEnded(this);
  }

  /** True when a recording with at least some media exists. */
  get recorded(): boolean {
    return this.#recording !== undefined;
  }

  /** The documents' view of this stream now. */
  view(now = Date.now()): StreamView {
    const views = this.#variants.map((v) => v.view());
    return {
      rungs: this.rungs,
      video: views.filter((v) => v.name !== AUDIO_VARIANT),
      audio: views.find((v) => v.name === AUDIO_VARIANT),
      segmentSeconds: this.#settings.segmentSeconds,
      partTarget: this.#settings.partSeconds * PART_TARGET_MARGIN,
      window: this.#settings.window,
      ended: this.state === 'ended',
      startedAt: this.#clock.zeroAt ?? this.startedAt,
      now,
    };
  }

  /** One variant's view, or undefined for a name this stream does not have. */
  variant(name: string): VariantView | undefined {
    return this.#variants.find((v) => v.name === name)?.view();
  }

  /** A complete segment's bytes; undefined when not (or no longer) kept. */
  segmentBytes(variant: string, seq: number): Buffer | undefined {
    return this.#variants.find((v) => v.name === variant)?.segmentBytes(seq);
  }

  /** A part's bytes, from a complete segment or the open one. */
  partBytes(variant: string, seq: number, index: number): Buffer | undefined {
    return this.#variants.find((v) => v.name === variant)?.partBytes(seq, index);
  }

  /** The init segment, once the transcoder has written it. */
  initBytes(variant: string): Buffer | undefined {
    return this.#variants.find((v) => v.name === variant)?.init;
  }

  get thumbnailFile(): string {
    return path.join(this.dir, THUMBNAIL_FILE);
  }

  stats(now = Date.now()): LiveStats {
    const sample = this.#rateSample;
    if (now - sample.at >= 1000) {
      sample.bitsPerSecond = ((this.#bytes - sample.bytes) * 8 * 1000) / (now - sample.at);
      sample.at = now;
      sample.bytes = this.#bytes;
    }
    return {
      ingestBitsPerSecond: Math.round(sample.bitsPerSecond),
      droppedFrames: this.#progress.dropped,
      encoderSpeed: this.#progress.speed,
      frames: this.#progress.frames,
    };
  }

  /** Removes the stream's working folder (after the recording has been stored). */
  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true }).catch((error: unknown) =>
      this.#settings.log.warn({ err: error, stream: this.name }, 'live working folder not removed'),
    );
  }
}
