import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { access, readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { GENERATED_FIXTURES_DIR, makeOnce, REPO_ROOT } from './fixtures.js';

const execFileAsync = promisify(execFile);

/** Where `scripts/make-fixtures.mjs --hostile` writes the corpus (gitignored). */
export const HOSTILE_CORPUS_DIR = path.join(GENERATED_FIXTURES_DIR, 'hostile');

const SCRIPT = path.join(REPO_ROOT, 'scripts', 'make-fixtures.mjs');

/** The proxy's answer to a corpus file under the default limits. */
export type HostileVerdict =
  /** 422: the declared duration is over MAX_SOURCE_DURATION. */
  | 'source_too_long'
  /** 422: the declared frame is over MAX_SOURCE_PIXELS. */
  | 'source_too_many_pixels'
  /** 415: neither the in-process parser nor ffprobe can read it. */
  | 'unreadable'
  /** The absurdity is in a box nobody needs; ffprobe reads a normal small video. */
  | 'accepted';

/** ffprobe's view of a corpus file: what it reports, or that it refuses the file. */
export type HostileFfprobeView =
  | { readable: false }
  | { readable: true; duration: number; width: number; height: number; codec: string };

/** One file of the hostile corpus, as `fixtures/generated/hostile/manifest-*.json` lists it. */
export interface HostileCorpusEntry {
  /** File name inside `HOSTILE_CORPUS_DIR`. */
  name: string;
  /** Absolute path. */
  path: string;
  description: string;
  /**
   * What the file's index states for the facts the limits look at (seconds, coded size). The
   * in-process parser must report exactly these, or nothing.
   */
  declares: { duration: number; width: number; height: number };
  ffprobe: HostileFfprobeView;
  verdict: HostileVerdict;
}

interface CorpusManifest {
  fixtures: Array<Omit<HostileCorpusEntry, 'path'>>;
}

/**
 * The manifest path for the current script: named by a hash of `make-fixtures.mjs`, so an edit to
 * the corpus definitions makes a fresh corpus instead of reusing files made by an older script.
 */
function manifestPath(): string {
  const hash = createHash('sha256').update(readFileSync(SCRIPT)).digest('hex').slice(0, 12);
  return path.join(HOSTILE_CORPUS_DIR, `manifest-${hash}.json`);
}

async function make(target: string): Promise<void> {
  await makeOnce(
    target,
    async (temporaryPath) => {
      // --force: a new manifest name means the definitions changed, so no old file is trusted.
      await execFileAsync(
        process.execPath,
        [SCRIPT, '--hostile', '--force', '--quiet', '--manifest-to', temporaryPath],
        { cwd: REPO_ROOT, maxBuffer: 1024 * 1024 },
      );
    },
    { waitTimeoutMs: 5 * 60_000 },
  );
  // Manifests of older script versions describe files that no longer exist as they said.
  for (const name of await readdir(HOSTILE_CORPUS_DIR)) {
    if (/^manifest-[0-9a-f]{12}\.json$/.test(name) && path.join(HOSTILE_CORPUS_DIR, name) !== target) {
      await rm(path.join(HOSTILE_CORPUS_DIR, name), { force: true });
    }
  }
}

async function load(target: string): Promise<HostileCorpusEntry[] | undefined> {
  const manifest = JSON.parse(await readFile(target, 'utf8')) as CorpusManifest;
  const entries = manifest.fixtures.map((entry) => ({
    ...entry,
    path: path.join(HOSTILE_CORPUS_DIR, entry.name),
  }));
  try {
    await Promise.all(entries.map((entry) => access(entry.path)));
    return entries;
  } catch {
    return undefined;
  }
}

let corpusPromise: Promise<HostileCorpusEntry[]> | undefined;

/**
 * The hostile MP4 corpus, made on first use by `scripts/make-fixtures.mjs --hostile` (a tiny
 * ffmpeg clip byte-patched a dozen ways, plus one real 8K frame; a few seconds) and reused by
 * later runs. Safe to call from many tests and workers at once: only one of them makes it. A
 * file deleted by hand is noticed and the corpus remade.
 */
export function ensureHostileCorpus(): Promise<HostileCorpusEntry[]> {
  if (!corpusPromise) {
    corpusPromise = (async () => {
      const target = manifestPath();
      await make(target);
      const entries = await load(target);
      if (entries) return entries;
      await rm(target, { force: true });
      await make(target);
      const remade = await load(target);
      if (!remade)
        throw new Error(`The hostile corpus in ${HOSTILE_CORPUS_DIR} is incomplete after remaking it`);
      return remade;
    })();
    // A failed attempt must not poison later calls.
    corpusPromise.catch(() => {
      corpusPromise = undefined;
    });
  }
  return corpusPromise;
}

/** CPU time (user + system) this process has used, in milliseconds. */
function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/**
 * Runs `read` and times it in CPU milliseconds; when that reaches `budgetMs`, runs it once more
 * and keeps the smaller time. CPU time, because on a shared machine wall time mostly measures how
 * long the process waited for a core; the retry, because a GC pause costs one call while a reader
 * that loops over a declared count is slow every time. `wallMs` is the first call's wall time.
 */
export function timedRead<T>(read: () => T, budgetMs: number): { value: T; ms: number; wallMs: number } {
  const wallStart = performance.now();
  let started = cpuMs();
  let value = read();
  let ms = cpuMs() - started;
  const wallMs = performance.now() - wallStart;
  if (ms >= budgetMs) {
    started = cpuMs();
    value = read();
    ms = Math.min(ms, cpuMs() - started);
  }
  return { value, ms, wallMs };
}
