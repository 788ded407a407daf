import { mkdtempSync, rmSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { indexedFrameArgs } from './argv.js';
import { type RunOptions, runToBuffer, type StandbyProcess, startStandby } from './runner.js';

/** How long after a decode its replacement is started. */
const REFILL_DELAY_MS = 100;

/** A standby process and the file it will write its frame to. */
interface Standby {
  process: StandbyProcess;
  output: string;
}

/**
 * Decodes frame files (`frameMp4`) to PPM with ffmpeg, keeping `standby` ffmpeg processes
 * started and waiting for their input. An ffmpeg start costs about 0.1 s of dynamic linking and
 * library set-up before it reads a byte, which is half of a thumbnail; a standby has paid it
 * already. A used standby is replaced shortly after its decode is over, so the start does not
 * compete with the request it served. Standbys are not jobs: the caller holds a job slot while decoding.
 */
export class StillDecoder {
  readonly #ffmpegPath: string;
  readonly #standby: number;
  readonly #ready: Standby[] = [];
  /** Where frames are written, one file per process, removed once read. */
  readonly #dir: string;
  #serial = 0;
  #closed = false;

  constructor(ffmpegPath: string, standby: number) {
    this.#ffmpegPath = ffmpegPath;
    this.#standby = standby;
    this.#dir = mkdtempSync(path.join(os.tmpdir(), 'ikvp-stills-'));
    this.#refill();
  }

  /** Processes started and waiting now. */
  get waiting(): number {
    return this.#ready.filter((standby) => standby.process.ready).length;
  }

  /** The PPM of the first frame of `frameFile`; from a standby process when one is ready. */
  async decode(frameFile: Buffer, options: Omit<RunOptions, 'stdin' | 'extraOutputs'>): Promise<Buffer> {
    const standby = this.#take();
    const output = standby?.output ?? this.#nextOutput();
    try {
      if (standby) await standby.process.run(frameFile, options);
      else
        await runToBuffer(this.#ffmpegPath, indexedFrameArgs(output), {
          ...options,
          stdin: Readable.from([frameFile]),
        });
      return await readFile(output);
    } finally {
      await rm(output, { force: true });
      // Later, not now: starting a process takes the event loop for several milliseconds, and
      // this request still has its image to encode and send.
      setTimeout(() => this.#refill(), REFILL_DELAY_MS).unref();
    }
  }

  /** Kills the waiting processes, starts no more and removes the frame folder. */
  close(): void {
    this.#closed = true;
    for (const standby of this.#ready.splice(0)) standby.process.kill();
    rmSync(this.#dir, { recursive: true, force: true });
  }

  #nextOutput(): string {
    return path.join(this.#dir, `${++this.#serial}.ppm`);
  }

  #take(): Standby | undefined {
    while (this.#ready.length > 0) {
      const next = this.#ready.shift()!;
      if (next.process.ready) return next;
    }
    return undefined;
  }

  #refill(): void {
    // Standbys that died while waiting (killed by an operator, say) are dropped, not reused.
    for (let i = this.#ready.length - 1; i >= 0; i--)
      if (!this.#ready[i]!.process.ready) this.#ready.splice(i, 1);
    while (!this.#closed && this.#ready.length < this.#standby) {
      const output = this.#nextOutput();
      this.#ready.push({ process: startStandby(this.#ffmpegPath, indexedFrameArgs(output)), output });
    }
  }
}
