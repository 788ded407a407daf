import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { describe, expect, test } from 'vitest';
import { JobLimiter } from '../render/limiter.js';
import { encodeAmf0 } from './amf0.js';
import { type MediaSink, RtmpSession } from './rtmp.js';
import { LiveStream } from './stream.js';

/**
 * What one publisher can make the ingest hold, with the RTMP session on a fake socket (no
 * network, no ffmpeg): half-sent messages across chunk streams, and tiny tags before the
 * transcoder starts.
 */

class FakeSocket extends EventEmitter {
  destroyed = false;
  paused = false;
  setNoDelay(): void {}
  write(): boolean {
    return true;
  }
  end(): void {
    this.destroy();
  }
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.emit('close');
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
}

/** A message as 128-byte chunks (the default chunk size), fmt 0 then fmt 3. */
function chunks(csid: number, type: number, streamId: number, body: Buffer, stamp = 0): Buffer {
  const header = Buffer.alloc(12);
  header[0] = csid;
  header.writeUIntBE(stamp, 1, 3);
  header.writeUIntBE(body.length, 4, 3);
  header[7] = type;
  header.writeUInt32LE(streamId, 8);
  const parts: Buffer[] = [header];
  for (let offset = 0; offset < body.length; offset += 128) {
    if (offset > 0) parts.push(Buffer.from([0xc0 | csid]));
    parts.push(body.subarray(offset, offset + 128));
  }
  return Buffer.concat(parts);
}

/** A session that has published, with every media message it delivered. */
function published(): { socket: FakeSocket; session: RtmpSession; got: Array<[number, Buffer]> } {
  const socket = new FakeSocket();
  const got: Array<[number, Buffer]> = [];
  const sink: MediaSink = { media: (type, _t, payload) => got.push([type, payload]), end: () => {} };
  const session = new RtmpSession(
    socket as unknown as Socket,
    { publish: () => sink },
    { publishWithinMs: 10_000, idleMs: 10_000 },
  );
  socket.emit('data', Buffer.concat([Buffer.from([3]), randomBytes(1536)]));
  socket.emit('data', randomBytes(1536));
  socket.emit('data', chunks(3, 20, 0, encodeAmf0('connect', 1, { app: 'live' })));
  socket.emit('data', chunks(3, 20, 0, encodeAmf0('createStream', 2, null)));
  socket.emit('data', chunks(4, 20, 1, encodeAmf0('publish', 3, null, 'key', 'live')));
  expect(session.publishing).toBe(true);
  return { socket, session, got };
}

describe('RTMP session limits', () => {
  test('a large video message interleaved with audio arrives intact, on its own bytes', () => {
    const { socket, got } = published();
    const video = randomBytes(1024 * 1024);
    const audio = randomBytes(100);
    const videoChunks = chunks(6, 9, 1, video);
    // Half the video, one audio message on another chunk stream, then the rest of the video.
    const cut = 12 + 128 + 129 * 3999;
    socket.emit('data', Buffer.concat([videoChunks.subarray(0, cut), chunks(5, 8, 1, audio)]));
    socket.emit('data', videoChunks.subarray(cut));
    expect(got.map(([type]) => type)).toEqual([8, 9]);
    expect(got[0]![1].equals(audio)).toBe(true);
    expect(got[1]![1].equals(video)).toBe(true);
    // Copies, not views of the input: a held payload does not keep other messages' bytes alive.
    expect(got[0]![1].buffer.byteLength).toBeLessThan(64 * 1024);
    expect(socket.destroyed).toBe(false);
  });

  test('metadata is passed on; a script message over 64 KB is skipped without being decoded', () => {
    const { socket, got } = published();
    socket.emit('data', chunks(5, 18, 1, encodeAmf0('@setDataFrame', 'onMetaData', { width: 320 })));
    const big = Array.from({ length: 1000 }, () => Array.from({ length: 100 }, () => null));
    socket.emit('data', chunks(5, 18, 1, encodeAmf0('onMetaData', { list: big })));
    expect(got.map(([type]) => type)).toEqual([18]);
    expect(got[0]![1].equals(encodeAmf0('onMetaData', { width: 320 }))).toBe(true);
    expect(socket.destroyed).toBe(false);
  });

  test('half-sent messages on many chunk streams close the connection, not hold 16 MB each', () => {
    const { socket, session } = published();
    const twelveMegabytes = 12 * 1024 * 1024;
    for (let csid = 5; csid < 9 && !socket.destroyed; csid++) {
      // A full header declaring 12 MB of video, then only the first chunk.
      const header = Buffer.alloc(12);
      header[0] = csid;
      header.writeUIntBE(twelveMegabytes, 4, 3);
      header[7] = 9;
      header.writeUInt32LE(1, 8);
      socket.emit('data', Buffer.concat([header, randomBytes(128)]));
    }
    expect(socket.destroyed).toBe(true);
    expect(session.closeReason).toBe('too many unfinished messages');
  });
});

describe('media before the transcoder starts', () => {
  test('a flood of tiny tags is counted by entry, so the publisher is paused early', () => {
    const stream = new LiveStream(
      't',
      '/nonexistent',
      {
        ffmpegPath: 'ffmpeg',
        heights: [240],
        segmentSeconds: 2,
        partSeconds: 0.5,
        window: 6,
        graceMs: 1000,
        maxDurationMs: 60_000,
        limiter: new JobLimiter(1, 1),
        log: { info: () => {}, warn: () => {}, error: () => {} } as never,
      },
      () => {},
    );
    let paused = false;
    const session = { pause: () => (paused = true), resume: () => {}, close: () => {} };
    const sink = stream.attach(session as unknown as RtmpSession);
    const one = Buffer.from([0xaf]);
    // One-byte audio tags, all at the same time stamp: never a second of media, never a picture.
    let sent = 0;
    const started = Date.now();
    while (!paused && sent < 1_000_000) {
      sink.media(8, 0, one, Date.now());
      sent++;
    }
    expect(paused).toBe(true);
    // 8 MB at 65 bytes a tag, and each tag in constant time (the check used to scan the buffer).
    expect(sent).toBeLessThan(140_000);
    expect(Date.now() - started).toBeLessThan(5000);
    void stream.end('test over');
  });
});
