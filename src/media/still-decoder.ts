import { mkdtempSync, rmSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { indexedFrameArgs } from './argv.js';
import { type RunOptions, runToBuffer, type StandbyProcess, startStandby } from './runner.js';

/** How long after a decode its replacement is started (see `#scheduleRefill`). */
const REFILL_DELAY_MS = 100;
/** The longest a replacement waits for other decodes to finish. */
const MAX_REFILL_WAIT_MS = 2000;

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
  #inFlight = 0;
  #refillTimer: NodeJS.Timeout | undefined;

  constructor(ffmpegPath: string, standby: number) {
    this.#ffmpegPath = ffmpegPath;
    this.#standby = standby;
    this.#dir = mkdtempSync(path.join(os.tmpdir(), 'ikvp-stills-'));
    this.#refill();
  }

  /** The PPM of the first frame of `frameFile`; from a standby process when one is ready. */
  async decode(frameFile: Buffer, options: Omit<RunOptions, 'stdin' | 'extraOutputs'>): Promise<Buffer> {
    this.#inFlight++;
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
      this.#inFlight--;
      await rm(output, { force: true });
      this.#scheduleRefill(0);
    }
  }

  /** Kills the waiting processes, starts no more and removes the frame folder. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#refillTimer);
    for (const standby of this.#ready.splice(0)) standby.process.kill();
    rmSync(this.#dir, { recursive: true, force: true });
  }

  /**
   * Replaces used standbys later, not now: a start takes the event loop for several milliseconds
   * and a core for about 0.1 s, and the request just served still has its image to encode. While
   * other stills are decoding it waits longer (up to `MAX_REFILL_WAIT_MS`), so the starts fall
   * between requests rather than inside them (measured: a start during a decode made it 1.8x slower).
   */
  #scheduleRefill(waitedMs: number): void {
    if (this.#refillTimer || this.#closed) return;
    this.#refillTimer = setTimeout(() => {
      this.#refillTimer = undefined;
      if (this.#inFlight > 0 && waitedMs < MAX_REFILL_WAIT_MS)
        this.#scheduleRefill(waitedMs + REFILL_DELAY_MS);
      else this.#refill();
    }, REFILL_DELAY_MS);
    this.#refillTimer.unref();
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
