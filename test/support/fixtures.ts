import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root, resolved from this file so tests may run from any working directory. */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The committed fixtures folder (also the proxy's default origin). */
export const FIXTURES_DIR = path.join(REPO_ROOT, 'fixtures');
/** Where fixtures made at test time go (gitignored). */
export const GENERATED_FIXTURES_DIR = path.join(FIXTURES_DIR, 'generated');

/** What a fixture is for: a playable video, an audio-only file, or a hostile (non-media/broken) input. */
export type FixtureKind = 'video' | 'audio' | 'hostile';

/** Special cases a test can select fixtures by. */
export type FixtureTrait =
  | 'faststart'
  | 'moov-at-end'
  | 'rotated'
  | 'portrait'
  | 'odd-dimensions'
  | 'no-audio'
  | 'vfr'
  | 'audio-only'
  | 'elementary-stream';

/** How a hostile fixture is broken. */
export type HostileCase = 'text' | 'empty' | 'random' | 'truncated' | 'playlist';

/** One entry of `fixtures/manifest.json`: what the file is meant to be (verified by test/fixtures.test.ts). */
export interface FixtureEntry {
  /** File name inside `fixtures/`. */
  name: string;
  kind: FixtureKind;
  /** Only for `kind: 'hostile'`. */
  hostile?: HostileCase;
  /** Short container name (`mp4`, `mov`, `webm`, `mpeg`, `3gp`, `ogg`, `hevc`, `mpegts`, `m4a`); null for hostile. */
  container: string | null;
  /** ffprobe's `format_name`, e.g. `mov,mp4,m4a,3gp,3g2,mj2`. */
  formatName: string | null;
  /** ffprobe codec names (`h264`, `mpeg4`, `hevc`, `av1`, `vp8`, `vp9`, `mpeg1video`, ...); null when absent. */
  videoCodec: string | null;
  audioCodec: string | null;
  /** Display size, after rotation metadata is applied. */
  width: number | null;
  height: number | null;
  /** Size as stored in the stream, before rotation. */
  codedWidth: number | null;
  codedHeight: number | null;
  /** Clockwise degrees to turn the coded picture for display (0, 90, 180, 270). */
  rotation: number | null;
  /** Constant frame rate; null for variable frame rate, audio and hostile files. */
  frameRate: number | null;
  /** Seconds, approximate. */
  duration: number | null;
  hasAudio: boolean;
  hasVideo: boolean;
  traits: FixtureTrait[];
  description: string;
}

interface ManifestFile {
  fixtures: FixtureEntry[];
}

let cachedManifest: FixtureEntry[] | undefined;

/**
 * Every fixture `fixtures/manifest.json` lists. Synchronous so tests can build `test.each` tables at
 * collection time; the global setup guarantees the manifest and its files exist.
 */
export function loadManifest(): FixtureEntry[] {
  if (!cachedManifest) {
    const parsed = JSON.parse(readFileSync(path.join(FIXTURES_DIR, 'manifest.json'), 'utf8')) as ManifestFile;
    cachedManifest = parsed.fixtures;
  }
  return cachedManifest;
}

/** The manifest entry named `name`; throws on an unknown name so a typo fails loudly. */
export function fixtureEntry(name: string): FixtureEntry {
  const entry = loadManifest().find((candidate) => candidate.name === name);
  if (!entry) throw new Error(`No fixture named '${name}' in fixtures/manifest.json`);
  return entry;
}

/** Absolute path of a committed fixture; throws when the manifest does not list it. */
export function fixturePath(name: string): string {
  return path.join(FIXTURES_DIR, fixtureEntry(name).name);
}

/** Manifest entries of one kind and/or carrying one trait. */
export function fixturesWhere(filter: { kind?: FixtureKind; trait?: FixtureTrait }): FixtureEntry[] {
  return loadManifest().filter(
    (entry) =>
      (filter.kind === undefined || entry.kind === filter.kind) &&
      (filter.trait === undefined || entry.traits.includes(filter.trait)),
  );
}

/** The types of the top-level boxes (atoms) of an ISO-BMFF/QuickTime file, in file order. */
export async function topLevelBoxTypes(filePath: string): Promise<string[]> {
  const handle = await open(filePath, 'r');
  try {
    const { size } = await handle.stat();
    const types: string[] = [];
    const header = Buffer.alloc(16);
    let offset = 0;
    // Bounded by the file size and by a box count no real file reaches.
    while (offset + 8 <= size && types.length < 10_000) {
      await handle.read(header, 0, 16, offset);
      let boxSize = header.readUInt32BE(0);
      types.push(header.toString('latin1', 4, 8));
      if (boxSize === 1) boxSize = Number(header.readBigUInt64BE(8));
      else if (boxSize === 0) boxSize = size - offset;
      if (boxSize < 8) break;
      offset += boxSize;
    }
    return types;
  } finally {
    await handle.close();
  }
}

/** Shape of the large fixture, for tests and benchmarks that reason about it. */
export const LARGE_FIXTURE = {
  fileName: 'large-1080p30-60s-h264-aac-v1.mp4',
  width: 1920,
  height: 1080,
  frameRate: 30,
  duration: 60,
  /** Keyframe every 2 s, as a typical web upload. */
  keyframeInterval: 2,
  minBytes: 20 * 1024 * 1024,
} as const;

function largeFixtureArgv(outputPath: string): string[] {
  const { width, height, frameRate, duration, keyframeInterval } = LARGE_FIXTURE;
  return [
    '-hide_banner',
    '-loglevel',
    'error',
    '-nostdin',
    '-y',
    '-f',
    'lavfi',
    '-i',
    `testsrc2=size=${width}x${height}:rate=${frameRate},trim=duration=${duration}`,
    '-f',
    'lavfi',
    '-i',
    `sine=frequency=440:sample_rate=48000:duration=${duration}:beep_factor=4`,
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    // A bit-rate target (not CRF) so the size is predictable: ~3 Mb/s x 60 s is ~23 MB.
    '-b:v',
    '3000k',
    '-maxrate',
    '3000k',
    '-bufsize',
    '6000k',
    '-g',
    String(frameRate * keyframeInterval),
    '-pix_fmt',
    'yuv420p',
    '-c:a',
    'aac',
    '-b:a',
    '128k',
    '-ac',
    '2',
    '-movflags',
    '+faststart',
    '-map_metadata',
    '-1',
    '-f',
    'mp4',
    outputPath,
  ];
}

function runFfmpeg(argv: string[]): Promise<void> {
  const ffmpeg = process.env.FFMPEG_PATH || 'ffmpeg';
  return new Promise((resolve, reject) => {
    const child = spawn(ffmpeg, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderrTail = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderrTail = (stderrTail + chunk).slice(-4000);
    });
    child.on('error', (error) => reject(new Error(`Could not start ${ffmpeg}: ${error.message}`)));
    child.on('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${ffmpeg} failed (exit ${code ?? signal}): ${stderrTail.trim()}`));
    });
  });
}

function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM means it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function fileSize(filePath: string): Promise<number | undefined> {
  try {
    return (await stat(filePath)).size;
  } catch {
    return undefined;
  }
}

/** Options for {@link makeOnce}. */
export interface MakeOnceOptions {
  /** The smallest size a complete target has (default 1 byte). */
  minBytes?: number;
  /** How long to wait for another process's lock before giving up (default 10 minutes). */
  waitTimeoutMs?: number;
  /** A lock older than this is considered abandoned even if its owner pid is alive (default 15 minutes). */
  staleLockMs?: number;
  /** Poll interval while waiting on another maker (default 200 ms). */
  pollMs?: number;
}

/**
 * Makes `target` once across every process and worker: returns at once when a complete copy exists;
 * otherwise takes `<target>.lock` (exclusive create), calls `produce` with a temporary path beside the
 * target and renames it into place, so readers never see a partial file. Callers that lose the race
 * wait for the winner; a lock whose owner died (or that is older than `staleLockMs`) is taken over.
 */
export async function makeOnce(
  target: string,
  produce: (temporaryPath: string) => Promise<void>,
  options: MakeOnceOptions = {},
): Promise<string> {
  const minBytes = options.minBytes ?? 1;
  const waitTimeoutMs = options.waitTimeoutMs ?? 10 * 60_000;
  const staleLockMs = options.staleLockMs ?? 15 * 60_000;
  const pollMs = options.pollMs ?? 200;
  const lockPath = `${target}.lock`;
  const deadline = Date.now() + waitTimeoutMs;
  await mkdir(path.dirname(target), { recursive: true });

  while (Date.now() < deadline) {
    if (((await fileSize(target)) ?? -1) >= minBytes) return target;
    let lock: Awaited<ReturnType<typeof open>> | undefined;
    try {
      lock = await open(lockPath, 'wx');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    if (lock) {
      const temporaryPath = path.join(
        path.dirname(target),
        `.${path.basename(target)}.${process.pid}.${Date.now()}.partial`,
      );
      try {
        await lock.writeFile(String(process.pid));
        await lock.close();
        // Another maker may have finished between our size check and taking the lock.
        if (((await fileSize(target)) ?? -1) >= minBytes) return target;
        await produce(temporaryPath);
        const producedBytes = (await fileSize(temporaryPath)) ?? 0;
        if (producedBytes < minBytes) {
          throw new Error(`Made ${target} but it has ${producedBytes} bytes, expected at least ${minBytes}`);
        }
        await rename(temporaryPath, target);
        return target;
      } finally {
        await rm(temporaryPath, { force: true });
        await rm(lockPath, { force: true });
      }
    }
    await removeLockIfAbandoned(lockPath, staleLockMs);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
  throw new Error(`Timed out after ${waitTimeoutMs} ms waiting for another process to make ${target}`);
}

async function removeLockIfAbandoned(lockPath: string, staleLockMs: number): Promise<void> {
  try {
    const [contents, info] = await Promise.all([readFile(lockPath, 'utf8'), stat(lockPath)]);
    const ownerPid = Number.parseInt(contents, 10);
    // An empty lock is one being written right now: only its age can make it stale.
    const ownerDead = Number.isInteger(ownerPid) && ownerPid > 0 && !isProcessAlive(ownerPid);
    if (ownerDead || Date.now() - info.mtimeMs > staleLockMs) await rm(lockPath, { force: true });
  } catch {
    // The lock vanished while we looked: the next loop iteration sees the result.
  }
}

let largeFixturePromise: Promise<string> | undefined;

/**
 * A >= 20 MB 1920x1080 30 fps, 60 s H.264/AAC mp4 with the moov atom at the front, made with ffmpeg
 * into `fixtures/generated/` on first use (a few seconds with `-preset ultrafast`) and reused by later
 * runs. Safe to call from many tests and workers at once: only one of them encodes.
 */
export function ensureLargeFixture(): Promise<string> {
  if (!largeFixturePromise) {
    const target = path.join(GENERATED_FIXTURES_DIR, LARGE_FIXTURE.fileName);
    largeFixturePromise = makeOnce(target, (temporaryPath) => runFfmpeg(largeFixtureArgv(temporaryPath)), {
      minBytes: LARGE_FIXTURE.minBytes,
    });
    // A failed attempt must not poison later calls.
    largeFixturePromise.catch(() => {
      largeFixturePromise = undefined;
    });
  }
  return largeFixturePromise;
}
