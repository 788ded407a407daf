import { createServer, type Server, type Socket } from 'node:net';
import path from 'node:path';
import type { Hono } from 'hono';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { WritableOrigin } from '../origin/types.js';
import type { JobLimiter } from '../render/limiter.js';
import type { Logger } from '../render/service.js';
import { streamForKey } from './keys.js';
import { recordingPath, storeRecording } from './recording.js';
import { liveRoutes } from './routes.js';
import type { MediaSink, PublishGate, PublishRefusal, RtmpSession as Session } from './rtmp.js';
import { RtmpSession } from './rtmp.js';
import { LiveStream } from './stream.js';

export { parseStreamKeys, signStreamKey } from './keys.js';
export { parseLiveSr } from './ladder.js';

/** Live settings, from configuration (`RTMP_PORT`, `LIVE_*`). */
export interface LiveSettings {
  host: string;
  /** 0 picks a free port (tests). */
  rtmpPort: number;
  /** Listed stream keys: key -> public name. */
  keys: ReadonlyMap<string, string>;
  /** Secrets that sign stream keys (`SIGNING_KEY`, rotation). */
  signingKeys: readonly string[];
  maxStreams: number;
  heights: readonly number[];
  segmentSeconds: number;
  graceMs: number;
  /** Where recordings go inside the origin; '' = not recorded. */
  recordPrefix: string;
  /** Handshake, connect and publish must complete within this. */
  handshakeTimeoutMs: number;
  maxDurationMs: number;
  ffmpegPath: string;
  /** Parent of each stream's working folder. */
  workDir: string;
}

/** What the live service uses from the rest of the proxy. */
export interface LiveDeps {
  limiter: JobLimiter;
  log: Logger;
  /** The origin's write side, for recordings (undefined: read-only origin, nothing recorded). */
  origin: WritableOrigin | undefined;
  registry: Registry;
}

/** Connections that have not published yet, at most (more are closed at once). */
const MAX_PENDING_CONNECTIONS = 128;
/** Low-latency HLS parts (CMAF chunks) per segment: 0.5 s parts for 2 s segments. */
const PARTS_PER_SEGMENT = 4;
/** Segments listed in a live playlist. */
const WINDOW_SEGMENTS = 6;
/** How long an ended stream's final playlists stay up (players reach `#EXT-X-ENDLIST`). */
const ENDED_KEEP_MS = 60_000;
/** The RTMP application name (OBS's server `rtmp://host:port/live`). */
const APP = 'live';

/**
 * Live ingest: the RTMP listener, the publish gate (key check, one publisher per stream, the
 * `MAX_LIVE_STREAMS` cap), the streams, the `/live` routes, metrics and recordings.
 */
export class LiveService implements PublishGate {
  readonly #settings: LiveSettings;
  readonly #deps: LiveDeps;
  readonly #streams = new Map<string, LiveStream>();
  readonly #sessions = new Set<Session>();
  readonly #recordings = new Set<Promise<void>>();
  readonly #refused: Counter<'reason'>;
  #server: Server | undefined;
  #closing = false;
  /** Origin paths of recordings stored, newest last (for logs and tests). */
  readonly stored: string[] = [];
  /** The Hono app for `/live`. */
  readonly routes: Hono;
  /** Bound RTMP port once listening. */
  port = 0;

  constructor(settings: LiveSettings, deps: LiveDeps) {
    this.#settings = settings;
    this.#deps = deps;
    this.routes = liveRoutes({
      stream: (name) => this.#streams.get(name),
      segmentSeconds: settings.segmentSeconds,
    });
    const registers = [deps.registry];
    this.#refused = new Counter({
      name: 'ikvp_live_refused_total',
      help: 'RTMP connections refused or closed before publishing, by reason',
      labelNames: ['reason'],
      registers,
    });
    const perStream = (name: string, help: string, read: (stream: LiveStream) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['stream'],
        registers,
        collect: function (this: Gauge<'stream'>) {
          this.reset();
          for (const stream of streamsNow())
            if (stream.state !== 'ended') this.set({ stream: stream.name }, read(stream));
        },
      });
    const streamsNow = () => [...this.#streams.values()];
    new Gauge({
      name: 'ikvp_live_streams',
      help: 'Live streams by state',
      labelNames: ['state'],
      registers,
      collect: function (this: Gauge<'state'>) {
        this.reset();
        for (const state of ['starting', 'live', 'interrupted', 'ended'] as const)
          this.set({ state }, streamsNow().filter((s) => s.state === state).length);
      },
    });
    perStream(
      'ikvp_live_ingest_bits_per_second',
      'Bit rate received from the publisher',
      (s) => s.stats().ingestBitsPerSecond,
    );
    perStream(
      'ikvp_live_dropped_frames',
      'Frames the live transcoder dropped',
      (s) => s.stats().droppedFrames,
    );
    perStream(
      'ikvp_live_encoder_speed',
      'Live transcoder speed (1 = real time)',
      (s) => s.stats().encoderSpeed,
    );
    perStream('ikvp_live_frames', 'Frames the live transcoder has encoded', (s) => s.stats().frames);
  }

  /** Starts the RTMP listener on `RTMP_PORT`. */
  async listen(): Promise<number> {
    const server = createServer((socket) => this.#accept(socket));
    server.maxConnections = MAX_PENDING_CONNECTIONS + this.#settings.maxStreams * 2;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#settings.rtmpPort, this.#settings.host, () => resolve());
    });
    server.on('error', (error) => this.#deps.log.error({ err: error }, 'RTMP listener failed'));
    this.#server = server;
    const address = server.address();
    this.port = typeof address === 'object' && address ? address.port : this.#settings.rtmpPort;
    return this.port;
  }

  #accept(socket: Socket): void {
    const pending = [...this.#sessions].filter((s) => !s.publishing).length;
    if (this.#closing || pending >= MAX_PENDING_CONNECTIONS) {
      this.#refused.inc({ reason: 'too_many_connections' });
      socket.destroy();
      return;
    }
    const session = new RtmpSession(socket, this, {
      publishWithinMs: this.#settings.handshakeTimeoutMs,
      idleMs: Math.max(10_000, this.#settings.segmentSeconds * 5000),
    });
    this.#sessions.add(session);
    socket.once('close', () => {
      this.#sessions.delete(session);
      // Connections that never published and were not refused by the gate (counted there).
      const reason = session.closeReason ?? '';
      if (!session.published && !session.refused && !reason.startsWith('connection closed'))
        this.#refused.inc({ reason: reason.includes('publish within') ? 'timeout' : 'protocol' });
      if (reason.startsWith('internal error')) this.#deps.log.error({ reason }, 'RTMP connection failed');
    });
  }

  /** The publish gate: runs on `publish`, before anything is started for the connection. */
  publish(app: string, key: string, session: Session): MediaSink | PublishRefusal {
    const name = app === APP ? streamForKey(key, this.#settings.keys, this.#settings.signingKeys) : undefined;
    if (!name) {
      this.#refused.inc({ reason: 'bad_key' });
      this.#deps.log.warn({ app }, 'live publish refused: unknown application or stream key');
      return { code: 'NetStream.Publish.Unauthorized', description: 'Unknown application or stream key.' };
    }
    if (this.#closing) return { code: 'NetStream.Publish.Rejected', description: 'The server is stopping.' };
    const existing = this.#streams.get(name);
    if (existing && existing.state !== 'ended') {
      if (existing.hasPublisher) {
        this.#refused.inc({ reason: 'already_publishing' });
        return { code: 'NetStream.Publish.BadName', description: `${name} already has a publisher.` };
      }
      if (existing.state === 'interrupted') {
        this.#deps.log.info({ stream: name }, 'live publisher reconnected');
        return existing.attach(session);
      }
    }
    const running = [...this.#streams.values()].filter((s) => s.state !== 'ended').length;
    if (running >= this.#settings.maxStreams) {
      this.#refused.inc({ reason: 'too_many_streams' });
      return { code: 'NetStream.Publish.Rejected', description: 'Too many live streams (MAX_LIVE_STREAMS).' };
    }
    const stream = new LiveStream(
      name,
      this.#settings.workDir,
      {
        ffmpegPath: this.#settings.ffmpegPath,
        heights: this.#settings.heights,
        segmentSeconds: this.#settings.segmentSeconds,
        partSeconds: this.#settings.segmentSeconds / PARTS_PER_SEGMENT,
        window: WINDOW_SEGMENTS,
        graceMs: this.#settings.graceMs,
        maxDurationMs: this.#settings.maxDurationMs,
        limiter: this.#deps.limiter,
        log: this.#deps.log,
      },
      (ended) => this.#ended(ended),
    );
    // An ended run of the same name is replaced: its URLs carry its own run id and 404 from now;
    // its folder goes once its recording is stored (see #ended).
    this.#streams.set(name, stream);
    this.#deps.log.info({ stream: name }, 'live publish started');
    return stream.attach(session);
  }

  #ended(stream: LiveStream): void {
    const job = this.#record(stream)
      .catch((error: unknown) =>
        this.#deps.log.error({ err: error, stream: stream.name }, 'live recording could not be stored'),
      )
      .finally(() => {
        this.#recordings.delete(job);
        const timer = setTimeout(
          () => {
            if (this.#streams.get(stream.name) === stream) this.#streams.delete(stream.name);
            void stream.remove();
          },
          this.#closing ? 0 : ENDED_KEEP_MS,
        );
        timer.unref();
      });
    this.#recordings.add(job);
  }

  async #record(stream: LiveStream): Promise<void> {
    const origin = this.#deps.origin;
    if (!stream.recorded || !origin || this.#settings.recordPrefix === '') return;
    const target = recordingPath(this.#settings.recordPrefix, stream.name, stream.startedAt);
    const started = Date.now();
    await storeRecording({
      ffmpegPath: this.#settings.ffmpegPath,
      flvPath: stream.recordingPath,
      origin,
      target,
    });
    this.stored.push(target);
    this.#deps.log.info(
      { stream: stream.name, path: target, ms: Date.now() - started },
      'live recording stored',
    );
  }

  /** Streams now (any state), for tests and metrics. */
  get streams(): readonly LiveStream[] {
    return [...this.#streams.values()];
  }

  /** Waits until every recording in progress is stored (or has failed). */
  async settled(): Promise<void> {
    while (this.#recordings.size > 0) await Promise.allSettled([...this.#recordings]);
  }

  /**
   * Stops: no new connections, every stream ends (its playlists end and its recording is
   * stored), then the working folders go.
   */
  async close(): Promise<void> {
    this.#closing = true;
    this.#server?.close();
    this.#server = undefined;
    for (const session of this.#sessions) if (!session.publishing) session.close('server stopping');
    await Promise.allSettled(
      [...this.#streams.values()].map((stream) => stream.end('the server is stopping')),
    );
    await this.settled();
    await Promise.allSettled([...this.#streams.values()].map((stream) => stream.remove()));
    this.#streams.clear();
  }
}

/** The folder under `CACHE_DIR` live streams work in (removed at start, like other encodes). */
export function liveWorkDir(cacheDir: string): string {
  return path.join(cacheDir, 'live-streams');
}
