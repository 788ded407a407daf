import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { AmfError, type AmfObject, type AmfValue, decodeAmf0, encodeAmf0 } from './amf0.js';

/**
 * The publishing side of RTMP, enough for OBS, ffmpeg and the mobile SDKs: the plain handshake,
 * the chunk stream, and the commands a publisher sends (`connect`, `createStream`, `publish`,
 * `FCUnpublish`/`deleteStream`). Its job is to decide, before anything is started, whether a
 * connection may publish (the key check happens on `publish`, with nothing spawned yet), and
 * then to hand each audio/video/metadata message, stamped with its arrival time, to a sink.
 * Anything unexpected (a wrong version byte, an unknown message before `publish`, an oversized
 * or malformed message) closes the connection.
 */

/** RTMP message types used here. */
const SET_CHUNK_SIZE = 1;
const ABORT = 2;
const ACK = 3;
const USER_CONTROL = 4;
const WINDOW_ACK_SIZE = 5;
const SET_PEER_BANDWIDTH = 6;
export const AUDIO = 8;
export const VIDEO = 9;
const AMF3_DATA = 15;
const AMF3_COMMAND = 17;
export const DATA = 18;
const AMF0_COMMAND = 20;

const HANDSHAKE_SIZE = 1536;
/** Chunk size we send with; the peer's own comes in SET_CHUNK_SIZE. */
const OUT_CHUNK_SIZE = 4096;
const WINDOW_SIZE = 5_000_000;
/** Largest message accepted before `publish` succeeds (commands are small). */
const MAX_COMMAND_BYTES = 64 * 1024;
/** Bytes a connection may send before it has published. */
const MAX_BYTES_BEFORE_PUBLISH = 256 * 1024;
/** Open chunk streams per connection (a publisher uses about five). */
const MAX_CHUNK_STREAMS = 64;
/** Largest audio/video message (one 4K keyframe is a few MB; the wire limit is 16 MB). */
const MAX_MEDIA_BYTES = 16 * 1024 * 1024;
/**
 * Declared bytes of the messages a connection has begun but not finished, across all its chunk
 * streams: one largest video message with audio interleaved. A message's body is allocated whole
 * on its first chunk, so without this 64 half-sent 16 MB messages would hold 1 GB.
 */
const MAX_UNFINISHED_BYTES = 2 * MAX_MEDIA_BYTES;

/** Why a publish is refused, as the `onStatus` code the publisher sees. */
export interface PublishRefusal {
  code: 'NetStream.Publish.BadName' | 'NetStream.Publish.Unauthorized' | 'NetStream.Publish.Rejected';
  description: string;
}

/** Where an accepted publisher's media goes. */
export interface MediaSink {
  /** One FLV-ready message: type (8 audio, 9 video, 18 data), timestamp (ms), payload, arrival. */
  media(type: number, timestamp: number, payload: Buffer, arrivedAt: number): void;
  /** The publisher stopped: `unpublish` on an explicit stop, `dropped` when the connection ended. */
  end(how: 'unpublish' | 'dropped'): void;
}

/** Decides on a `publish`; synchronous, so nothing can start twice for one key. */
export interface PublishGate {
  publish(app: string, key: string, session: RtmpSession): MediaSink | PublishRefusal;
}

/** Timing knobs (tests shorten them). */
export interface SessionTimeouts {
  /** Handshake, connect and publish must all happen within this. */
  publishWithinMs: number;
  /** A publishing connection silent this long is treated as dropped. */
  idleMs: number;
}

interface ChunkState {
  timestamp: number;
  delta: number;
  length: number;
  type: number;
  streamId: number;
  extended: boolean;
  /** The message being received, when it spans several chunks. */
  body: Buffer | undefined;
  received: number;
}

type Phase = 'c0c1' | 'c2' | 'chunks' | 'closed';

/** One RTMP connection. Created per accepted socket; closes the socket itself on any error. */
export class RtmpSession {
  readonly #socket: Socket;
  readonly #gate: PublishGate;
  readonly #timeouts: SessionTimeouts;
  #phase: Phase = 'c0c1';
  #input: Buffer = Buffer.alloc(0);
  /** Bytes received but not yet joined to `#input`: joined once `#need` bytes are there. */
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  /** Length `#input` must reach before parsing can go on (avoids re-copying a large message). */
  #need = 1;
  #inChunkSize = 128;
  #chunks = new Map<number, ChunkState>();
  /** Sum of the lengths of the chunk streams' unfinished messages (`MAX_UNFINISHED_BYTES`). */
  #unfinished = 0;
  #bytesIn = 0;
  #lastAck = 0;
  #peerWindow = 0;
  #app: string | undefined;
  #sink: MediaSink | undefined;
  #publishStream = 0;
  #deadline: NodeJS.Timeout;
  /** Set once the publisher has said it stops, so the socket closing after is not a drop. */
  #ended = false;
  /** Bytes of media received, for the ingest bit-rate figure. */
  mediaBytes = 0;
  /** Why the connection was closed, for logs and tests. */
  closeReason: string | undefined;
  /** Set when the gate refused the publish (already counted there, not a protocol fault). */
  refused = false;
  /** Set once a publish was accepted (whatever happened after). */
  published = false;
  #outChunkSize = 128;

  constructor(socket: Socket, gate: PublishGate, timeouts: SessionTimeouts) {
    this.#socket = socket;
    this.#gate = gate;
    this.#timeouts = timeouts;
    socket.setNoDelay(true);
    this.#deadline = setTimeout(
      () => this.close('no publish within the time allowed'),
      timeouts.publishWithinMs,
    );
    this.#deadline.unref();
    socket.on('data', (data: Buffer) => this.#onData(data));
    socket.on('error', () => this.close('socket error'));
    socket.on('close', () => this.close('connection closed'));
  }

  /** True once `publish` was accepted. */
  get publishing(): boolean {
    return this.#sink !== undefined;
  }

  /** Stops reading from the publisher (backpressure from the encoder). */
  pause(): void {
    this.#socket.pause();
  }

  resume(): void {
    this.#socket.resume();
  }

  /** Closes the connection; a publisher that did not unpublish counts as dropped. */
  close(reason: string): void {
    if (this.#phase === 'closed') return;
    this.#phase = 'closed';
    this.closeReason = reason;
    clearTimeout(this.#deadline);
    this.#socket.destroy();
    const sink = this.#sink;
    this.#sink = undefined;
    if (sink && !this.#ended) sink.end('dropped');
  }

  #onData(data: Buffer): void {
    if (this.#phase === 'closed') return;
    this.#bytesIn += data.length;
    if (!this.#sink && this.#bytesIn > MAX_BYTES_BEFORE_PUBLISH) {
      this.close('too many bytes before publish');
      return;
    }
    this.#pending.push(data);
    this.#pendingBytes += data.length;
    if (this.#input.length + this.#pendingBytes < this.#need) return;
    this.#input = Buffer.concat([this.#input, ...this.#pending]);
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#need = 1;
    try {
      this.#drain();
    } catch (error) {
      // Never rethrown: this runs in a socket's data handler, where a throw would end the process.
      this.close(
        error instanceof ProtocolError || error instanceof AmfError
          ? error.message
          : `internal error: ${(error as Error)?.message ?? error}`,
      );
      return;
    }
    if (this.#peerWindow > 0 && this.#bytesIn - this.#lastAck >= this.#peerWindow) {
      this.#lastAck = this.#bytesIn;
      const body = Buffer.alloc(4);
      body.writeUInt32BE(this.#bytesIn >>> 0);
      this.#send(2, ACK, 0, body);
    }
  }

  #drain(): void {
    for (;;) {
      if (this.#phase === 'c0c1') {
        if (this.#input.length < 1) return;
        // 3 is plain RTMP; 6 (RTMPE) and anything else are refused.
        if (this.#input[0] !== 3) throw new ProtocolError('not an RTMP handshake');
        if (this.#input.length < 1 + HANDSHAKE_SIZE) {
          this.#wait(1 + HANDSHAKE_SIZE);
          return;
        }
        const c1 = this.#input.subarray(1, 1 + HANDSHAKE_SIZE);
        this.#input = this.#input.subarray(1 + HANDSHAKE_SIZE);
        const s1 = randomBytes(HANDSHAKE_SIZE);
        s1.writeUInt32BE(0, 0);
        // Zero version bytes: clients then skip the Flash digest check.
        s1.writeUInt32BE(0, 4);
        this.#socket.write(Buffer.concat([Buffer.from([3]), s1, c1]));
        this.#phase = 'c2';
        continue;
      }
      if (this.#phase === 'c2') {
        if (this.#input.length < HANDSHAKE_SIZE) {
          this.#wait(HANDSHAKE_SIZE);
          return;
        }
        this.#input = this.#input.subarray(HANDSHAKE_SIZE);
        this.#phase = 'chunks';
        continue;
      }
      if (this.#phase !== 'chunks') return;
      if (!this.#readChunk()) return;
    }
  }

  /** Notes how long the input must be before parsing is worth retrying. */
  #wait(length: number): false {
    this.#need = length;
    return false;
  }

  /** Reads one chunk if it is all there; false when more bytes are needed. */
  #readChunk(): boolean {
    const input = this.#input;
    if (input.length < 1) return false;
    const fmt = input[0]! >> 6;
    let csid = input[0]! & 0x3f;
    let offset = 1;
    if (csid === 0) {
      if (input.length < 2) return false;
      csid = 64 + input[1]!;
      offset = 2;
    } else if (csid === 1) {
      if (input.length < 3) return false;
      csid = 64 + input[1]! + input[2]! * 256;
      offset = 3;
    }
    const headerSize = [11, 7, 3, 0][fmt]!;
    if (input.length < offset + headerSize) return false;
    let state = this.#chunks.get(csid);
    if (!state) {
      if (fmt !== 0) throw new ProtocolError('chunk stream starts without a full header');
      if (this.#chunks.size >= MAX_CHUNK_STREAMS) throw new ProtocolError('too many chunk streams');
      state = {
        timestamp: 0,
        delta: 0,
        length: 0,
        type: 0,
        streamId: 0,
        extended: false,
        body: undefined,
        received: 0,
      };
    }
    const starting = state.received === 0;
    let stamp = 0;
    if (fmt <= 2) stamp = input.readUIntBE(offset, 3);
    let length = state.length;
    let type = state.type;
    if (fmt <= 1) {
      length = input.readUIntBE(offset + 3, 3);
      type = input[offset + 6]!;
    }
    const streamId = fmt === 0 ? input.readUInt32LE(offset + 7) : state.streamId;
    offset += headerSize;
    const extended = fmt <= 2 ? stamp === 0xffffff : state.extended;
    if (extended) {
      if (input.length < offset + 4) return false;
      stamp = input.readUInt32BE(offset);
      offset += 4;
    }
    if (!starting && fmt !== 3) throw new ProtocolError('new message header inside a message');
    const limit = this.#sink ? MAX_MEDIA_BYTES : MAX_COMMAND_BYTES;
    if (length > limit) throw new ProtocolError('message too large');
    const take = Math.min(this.#inChunkSize, length - state.received);
    if (input.length < offset + take) return this.#wait(offset + take);
    // The whole chunk is here: commit the header and the payload.
    if (starting) {
      if (fmt === 0) {
        state.timestamp = stamp;
        state.delta = 0;
      } else if (fmt === 1 || fmt === 2) {
        state.delta = stamp;
        state.timestamp = (state.timestamp + stamp) >>> 0;
      } else {
        state.timestamp = (state.timestamp + state.delta) >>> 0;
      }
    }
    state.length = length;
    state.type = type;
    state.streamId = streamId;
    state.extended = extended;
    this.#chunks.set(csid, state);
    const payload = input.subarray(offset, offset + take);
    this.#input = input.subarray(offset + take);
    if (starting && take < length) {
      if (this.#unfinished + length > MAX_UNFINISHED_BYTES)
        throw new ProtocolError('too many unfinished messages');
      this.#unfinished += length;
      state.body = Buffer.allocUnsafeSlow(length);
    }
    // Payloads are copied out, never kept as views: a view would keep the whole input buffer it
    // came from alive (the bytes of every other message in it) for as long as it is held.
    const body = state.body;
    if (!body) {
      this.#onMessage(type, state.timestamp, state.streamId, Buffer.from(payload));
      return true;
    }
    payload.copy(body, state.received);
    state.received += take;
    if (state.received >= length) {
      this.#forget(state);
      this.#onMessage(type, state.timestamp, state.streamId, body);
    }
    return true;
  }

  /** Drops a chunk stream's unfinished message (completed, or aborted by the peer). */
  #forget(state: ChunkState): void {
    if (state.body) this.#unfinished -= state.body.length;
    state.body = undefined;
    state.received = 0;
  }

  #onMessage(type: number, timestamp: number, streamId: number, body: Buffer): void {
    switch (type) {
      case SET_CHUNK_SIZE: {
        if (body.length < 4) throw new ProtocolError('bad chunk size');
        const size = body.readUInt32BE(0) & 0x7fffffff;
        if (size < 1) throw new ProtocolError('bad chunk size');
        this.#inChunkSize = size;
        return;
      }
      case ABORT:
        if (body.length >= 4) {
          const state = this.#chunks.get(body.readUInt32BE(0));
          if (state) this.#forget(state);
        }
        return;
      case ACK:
      case USER_CONTROL:
      case SET_PEER_BANDWIDTH:
        return;
      case WINDOW_ACK_SIZE:
        if (body.length >= 4) this.#peerWindow = body.readUInt32BE(0);
        return;
      case AMF0_COMMAND:
        this.#onCommand(decodeAmf0(body), streamId);
        return;
      case AMF3_COMMAND:
        // AMF3 commands carry AMF0 after a one-byte format marker.
        this.#onCommand(decodeAmf0(body.subarray(1)), streamId);
        return;
      case AUDIO:
      case VIDEO:
      case DATA:
      case AMF3_DATA:
        if (!this.#sink) throw new ProtocolError('media before publish');
        if (type === AMF3_DATA) return;
        this.#onMedia(type, timestamp, body);
        return;
      default:
        if (!this.#sink) throw new ProtocolError(`unexpected message type ${type}`);
    }
  }

  #onMedia(type: number, timestamp: number, body: Buffer): void {
    const sink = this.#sink!;
    this.mediaBytes += body.length;
    this.#deadline.refresh();
    if (type === DATA) {
      // Metadata is a few hundred bytes; a larger script message is skipped undecoded (16 MB of
      // AMF0 would be millions of objects).
      if (body.length > MAX_COMMAND_BYTES) return;
      // `@setDataFrame("onMetaData", {...})` is stored as a plain `onMetaData` script tag.
      const values = decodeAmf0(body);
      if (values[0] === '@setDataFrame') values.shift();
      if (values[0] !== 'onMetaData') return;
      sink.media(DATA, timestamp, encodeAmf0(...values), Date.now());
      return;
    }
    if (body.length === 0) return;
    sink.media(type, timestamp, body, Date.now());
  }

  #onCommand(values: AmfValue[], streamId: number): void {
    const [name, transaction] = values;
    const txn = typeof transaction === 'number' ? transaction : 0;
    if (typeof name !== 'string') throw new ProtocolError('command without a name');
    if (this.#app === undefined && name !== 'connect') throw new ProtocolError(`${name} before connect`);
    switch (name) {
      case 'connect': {
        if (this.#app !== undefined) throw new ProtocolError('second connect');
        const info = values[2];
        const app =
          info && typeof info === 'object' && !Array.isArray(info) ? (info as AmfObject).app : undefined;
        if (typeof app !== 'string') throw new ProtocolError('connect without an app');
        this.#app = app.replace(/\/+$/, '');
        const windowBody = Buffer.alloc(4);
        windowBody.writeUInt32BE(WINDOW_SIZE);
        this.#send(2, WINDOW_ACK_SIZE, 0, windowBody);
        const bandwidth = Buffer.alloc(5);
        bandwidth.writeUInt32BE(WINDOW_SIZE);
        bandwidth[4] = 2;
        this.#send(2, SET_PEER_BANDWIDTH, 0, bandwidth);
        const chunkSize = Buffer.alloc(4);
        chunkSize.writeUInt32BE(OUT_CHUNK_SIZE);
        this.#send(2, SET_CHUNK_SIZE, 0, chunkSize);
        this.#outChunkSize = OUT_CHUNK_SIZE;
        this.#command(0, [
          '_result',
          txn,
          { fmsVer: 'FMS/3,0,1,123', capabilities: 31 },
          {
            level: 'status',
            code: 'NetConnection.Connect.Success',
            description: 'Connection succeeded.',
            objectEncoding: 0,
          },
        ]);
        return;
      }
      case 'releaseStream':
      case 'FCPublish':
        this.#command(0, ['_result', txn, null, undefined]);
        return;
      case 'createStream':
        this.#command(0, ['_result', txn, null, 1]);
        return;
      case 'publish': {
        if (this.#sink) throw new ProtocolError('second publish');
        const raw = values[3];
        if (typeof raw !== 'string' || raw === '') throw new ProtocolError('publish without a stream key');
        // OBS and some SDKs append `?query` to the key; only the part before it is the key.
        const key = raw.split('?')[0]!;
        this.#publishStream = streamId;
        const answer = this.#gate.publish(this.#app ?? '', key, this);
        if ('code' in answer) {
          this.#status(streamId, 'error', answer.code, answer.description);
          // Let the status reach the publisher, then close.
          this.#phase = 'closed';
          this.closeReason = answer.description;
          this.refused = true;
          clearTimeout(this.#deadline);
          this.#socket.end();
          setTimeout(() => this.#socket.destroy(), 1000).unref();
          return;
        }
        this.#sink = answer;
        this.published = true;
        this.#deadline.refresh();
        // From now on the deadline is an idle timer: silence this long counts as a drop.
        clearTimeout(this.#deadline);
        this.#deadline = setTimeout(() => this.close('publisher idle'), this.#timeouts.idleMs);
        this.#deadline.unref();
        this.#status(streamId, 'status', 'NetStream.Publish.Start', `${key} is now published.`);
        return;
      }
      case 'FCUnpublish':
      case 'deleteStream':
      case 'closeStream':
        if (this.#sink && !this.#ended) {
          this.#ended = true;
          const sink = this.#sink;
          this.#sink = undefined;
          if (name !== 'FCUnpublish')
            this.#status(this.#publishStream, 'status', 'NetStream.Unpublish.Success', 'Stopped.');
          sink.end('unpublish');
        }
        return;
      default:
        // getStreamLength, _checkbw and other chatter: answered with nothing.
        return;
    }
  }

  #status(streamId: number, level: string, code: string, description: string): void {
    this.#command(streamId, ['onStatus', 0, null, { level, code, description }]);
  }

  #command(streamId: number, values: AmfValue[]): void {
    this.#send(streamId === 0 ? 3 : 5, AMF0_COMMAND, streamId, encodeAmf0(...values));
  }

  /** Writes one message as chunks (fmt 0 header, then fmt 3 continuations). */
  #send(csid: number, type: number, streamId: number, body: Buffer): void {
    if (this.#socket.destroyed) return;
    const parts: Buffer[] = [];
    const header = Buffer.alloc(12);
    header[0] = csid & 0x3f;
    header.writeUIntBE(0, 1, 3);
    header.writeUIntBE(body.length, 4, 3);
    header[7] = type;
    header.writeUInt32LE(streamId, 8);
    parts.push(header);
    for (let offset = 0; offset < body.length; offset += this.#outChunkSize) {
      if (offset > 0) parts.push(Buffer.from([0xc0 | (csid & 0x3f)]));
      parts.push(body.subarray(offset, offset + this.#outChunkSize));
    }
    this.#socket.write(Buffer.concat(parts));
  }
}

/** A connection broke the protocol; it is closed. */
export class ProtocolError extends Error {}
