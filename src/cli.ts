#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

/** What `warm` was asked to do, from the command line. */
export interface WarmCommand {
  command: 'warm';
  /** A file with one URL or path per line, or `-` for standard input (unless `prefix` is given). */
  list?: string;
  /** Warm every media source under this origin folder instead of a URL list. */
  prefix?: string;
  /** With `prefix`: video transforms to warm (`sr-...` ones as HLS ladders). */
  transforms: string[];
  /** With `prefix`: thumbnail transforms to warm. */
  thumbnails: string[];
  base: string;
  concurrency: number;
  /** Per-request limit, seconds: a first transform of a long video takes a while. */
  timeoutSeconds: number;
  /** Sent as `User-Agent`, so `f-auto` URLs warm the variant a given browser family gets. */
  userAgent?: string;
}

/** Every command the CLI knows. */
export type CliCommand = WarmCommand | { command: 'serve' } | { command: 'help' };

/** A command line that cannot be run; the message says why. */
export class UsageError extends Error {}

const DEFAULT_BASE = 'http://127.0.0.1:8080';
const DEFAULT_CONCURRENCY = 2;
const DEFAULT_TIMEOUT_SECONDS = 600;
/** A playlist longer than this is not a playlist this proxy wrote; refuse rather than buffer it. */
const MAX_PLAYLIST_BYTES = 8 * 1024 * 1024;
/** Upper bound on what one warm run fetches, so a hostile or looping manifest cannot run forever. */
const MAX_RESOURCES = 100_000;

/** Usage text for `--help` and for mistakes. */
export const USAGE = `Usage:
  ik-video-proxy serve                      start the proxy (configured by environment variables)
  ik-video-proxy warm <file | -> [options]  request every URL in the file (one per line) so the caches are warm
  ik-video-proxy warm --prefix <folder> [--tr <T>]... [--thumbnail <T>]... [options]
                                            warm every video under an origin folder (ORIGIN and the
                                            other settings come from the environment, as for serve)

warm options:
  --base <url>          where relative paths are sent (default ${DEFAULT_BASE})
  --concurrency <n>     requests at once (default ${DEFAULT_CONCURRENCY}); keep it near the proxy's MAX_JOBS
  --timeout <seconds>   limit per request (default ${DEFAULT_TIMEOUT_SECONDS})
  --user-agent <text>   User-Agent to send, for f-auto URLs
  --prefix <folder>     list the origin under this folder ('' for all) instead of reading a file
  --tr <T>              with --prefix: a transform to warm per source (sr-... warms the HLS ladder);
                        default sr-240_360_720
  --thumbnail <T>       with --prefix: a thumbnail to warm per source; default w-300

Lines may be paths (/v/a.mp4?tr=w-640) or full URLs; blank lines and lines starting with # are skipped.
For .m3u8 and .mpd URLs every playlist, init segment and media segment they list is requested too.
Exit status: 0 when everything succeeded, 1 when some request failed, 2 on a usage error.`;

function positiveInteger(flag: string, raw: string | undefined, max: number): number {
  if (raw === undefined || !/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > max) {
    throw new UsageError(`${flag} expects a whole number from 1 to ${max}`);
  }
  return Number(raw);
}

/** Parses the arguments after the program name. Pure; throws `UsageError` on a mistake. */
export function parseCliArgs(argv: readonly string[]): CliCommand {
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h')
    return { command: 'help' };
  if (command === 'serve') {
    if (rest.length > 0)
      throw new UsageError('serve takes no arguments; it is configured by environment variables');
    return { command: 'serve' };
  }
  if (command !== 'warm') throw new UsageError(`Unknown command '${command}'`);
  const warm: Partial<WarmCommand> & { command: 'warm' } = {
    command: 'warm',
    base: DEFAULT_BASE,
    concurrency: DEFAULT_CONCURRENCY,
    timeoutSeconds: DEFAULT_TIMEOUT_SECONDS,
    transforms: [],
    thumbnails: [],
  };
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    const [flag, inline] =
      arg.startsWith('--') && arg.includes('=')
        ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
        : [arg, undefined];
    const value = () => {
      if (inline !== undefined) return inline;
      const next = rest[++i];
      if (next === undefined) throw new UsageError(`${flag} needs a value`);
      return next;
    };
    if (flag === '--base') {
      const base = value();
      if (!/^https?:\/\/[^/]/i.test(base))
        throw new UsageError('--base expects an http(s) URL such as http://127.0.0.1:8080');
      warm.base = base;
    } else if (flag === '--concurrency') warm.concurrency = positiveInteger('--concurrency', value(), 64);
    else if (flag === '--timeout') warm.timeoutSeconds = positiveInteger('--timeout', value(), 86_400);
    else if (flag === '--user-agent') warm.userAgent = value();
    else if (flag === '--prefix') warm.prefix = value().replace(/^\/+/, '');
    else if (flag === '--tr') warm.transforms!.push(value());
    else if (flag === '--thumbnail') warm.thumbnails!.push(value());
    else if (flag.startsWith('--')) throw new UsageError(`Unknown option ${flag}`);
    else if (warm.list === undefined) warm.list = arg;
    else throw new UsageError(`Unexpected argument '${arg}': give one file (or -)`);
  }
  if (warm.prefix !== undefined) {
    if (warm.list !== undefined) throw new UsageError('Give either a file of URLs or --prefix, not both');
    if (warm.transforms!.length === 0 && warm.thumbnails!.length === 0) {
      warm.transforms!.push('sr-240_360_720');
      warm.thumbnails!.push('w-300');
    }
  } else if (warm.list === undefined) {
    throw new UsageError('warm needs a file with URLs, - to read them from standard input, or --prefix');
  } else if (warm.transforms!.length > 0 || warm.thumbnails!.length > 0) {
    throw new UsageError('--tr and --thumbnail go with --prefix');
  }
  return warm as WarmCommand;
}

/** The URLs that warm `transforms` and `thumbnails` for each source path. Pure. */
export function prefixTargets(
  paths: readonly string[],
  transforms: readonly string[],
  thumbnails: readonly string[],
): string[] {
  const encode = (path: string) => path.split('/').map(encodeURIComponent).join('/');
  const targets: string[] = [];
  for (const path of paths) {
    for (const tr of transforms) {
      targets.push(
        /(^|[,:])sr-/.test(tr) ? `/${encode(path)}/ik-master.m3u8?tr=${tr}` : `/${encode(path)}?tr=${tr}`,
      );
    }
    for (const tr of thumbnails) targets.push(`/${encode(path)}/ik-thumbnail.jpg?tr=${tr}`);
  }
  return targets;
}

/** Video and audio sources under `prefix` in the configured origin. */
async function listSources(prefix: string): Promise<string[]> {
  const [{ loadConfig }, { createOrigin }, { contentTypeFromPath }] = await Promise.all([
    import('./config/index.js'),
    import('./origin/index.js'),
    import('./origin/content-type.js'),
  ]);
  const origin = createOrigin(loadConfig(process.env));
  if (!origin.list)
    throw new UsageError(`This origin (${origin.kind}) cannot list folders; give a file of URLs instead`);
  const listing = await origin.list(prefix, 10_000);
  return listing
    .map((entry) => entry.path)
    .filter((path) => /^(video|audio)\//.test(contentTypeFromPath(path) ?? ''));
}

/** The URLs or paths in a list file: one per line, blank lines and `#` comments skipped. */
export function parseUrlList(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

/**
 * A list entry as an absolute URL: full http(s) URLs are kept, paths are appended to `base`
 * (keeping any path prefix `base` has, e.g. `https://cdn.example.com/v`).
 */
export function resolveTarget(entry: string, base: string): string {
  if (/^https?:\/\//i.test(entry)) return new URL(entry).toString();
  return new URL(`${base.replace(/\/+$/, '')}/${entry.replace(/^\/+/, '')}`).toString();
}

/** Whether a response is a playlist whose references should be warmed too. */
export function playlistKind(url: string, contentType: string | null): 'hls' | 'dash' | undefined {
  const type = (contentType ?? '').toLowerCase();
  const pathname = new URL(url).pathname.toLowerCase();
  if (type.includes('mpegurl') || pathname.endsWith('.m3u8')) return 'hls';
  if (type.includes('dash+xml') || pathname.endsWith('.mpd')) return 'dash';
  return undefined;
}

/** Every URI an HLS playlist references (variants, renditions, init maps, segments), absolute. */
export function hlsReferences(playlist: string, playlistUrl: string): string[] {
  const out: string[] = [];
  for (const rawLine of playlist.split(/\r?\n/)) {
    const line = rawLine.trim();
    if (line === '') continue;
    if (line.startsWith('#')) {
      // Keys are not warmed: they are not outputs of this proxy and may be secret.
      if (line.startsWith('#EXT-X-KEY') || line.startsWith('#EXT-X-SESSION-KEY')) continue;
      for (const match of line.matchAll(/URI="([^"]*)"/g))
        out.push(new URL(match[1]!, playlistUrl).toString());
      continue;
    }
    out.push(new URL(line, playlistUrl).toString());
  }
  return out;
}

function xmlUnescape(text: string): string {
  return text
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&#(\d+);/g, (_, code: string) => String.fromCodePoint(Number(code)))
    .replace(/&amp;/g, '&');
}

function attributes(tag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const match of tag.matchAll(/([A-Za-z_:][\w:.-]*)\s*=\s*"([^"]*)"/g))
    out[match[1]!] = xmlUnescape(match[2]!);
  return out;
}

/** Seconds of an ISO 8601 duration such as `PT1M2.5S`. */
function isoSeconds(text: string | undefined): number {
  const match =
    /^P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(
      text ?? '',
    );
  if (!match) return 0;
  const [, d, h, m, s] = match.map((part) => Number(part ?? 0));
  return d! * 86400 + h! * 3600 + m! * 60 + s!;
}

/** `$RepresentationID$`, `$Number%05d$`, `$Time$`, `$Bandwidth$` and `$$`, per ISO/IEC 23009-1. */
function fillTemplate(template: string, values: Record<string, string | number>): string {
  return template.replace(/\$(\w*)(?:%0(\d+)d)?\$/g, (whole, name: string, width: string | undefined) => {
    if (name === '') return '$';
    const value = values[name];
    if (value === undefined) return whole;
    return width ? String(value).padStart(Number(width), '0') : String(value);
  });
}

/** Start times of the segments a `<SegmentTimeline>` lists. */
function timelineTimes(timeline: string): number[] {
  const times: number[] = [];
  let time = 0;
  for (const match of timeline.matchAll(/<S\b([^>]*)\/?>/g)) {
    const s = attributes(match[1]!);
    if (s.t !== undefined) time = Number(s.t);
    const duration = Number(s.d);
    const repeat = Number(s.r ?? 0);
    if (!Number.isFinite(duration) || duration <= 0) break;
    for (let i = 0; i <= repeat && times.length < MAX_RESOURCES; i++) {
      times.push(time);
      time += duration;
    }
  }
  return times;
}

/**
 * Every init and media segment a static DASH manifest references through `SegmentTemplate`
 * (with a `SegmentTimeline` or a fixed `duration`), and any `SegmentList`/`BaseURL` entries.
 * Covers what this proxy writes and the common shapes of others; not a full MPD model.
 */
export function dashReferences(manifest: string, manifestUrl: string): string[] {
  const out: string[] = [];
  const mpd = attributes(/<MPD\b([^>]*)>/.exec(manifest)?.[1] ?? '');
  const total = isoSeconds(mpd.mediaPresentationDuration);
  for (const set of manifest.matchAll(/<AdaptationSet\b([^>]*)>([\s\S]*?)<\/AdaptationSet>/g)) {
    const body = set[2]!;
    const setTemplate = /<SegmentTemplate\b([^>]*?)(?:\/>|>([\s\S]*?)<\/SegmentTemplate>)/.exec(
      body.replace(/<Representation\b[\s\S]*?(?:\/>|<\/Representation>)/g, ''),
    );
    for (const rep of body.matchAll(/<Representation\b([^>]*?)(?:\/>|>([\s\S]*?)<\/Representation>)/g)) {
      const repAttributes = attributes(rep[1]!);
      const repBody = rep[2] ?? '';
      const ownTemplate = /<SegmentTemplate\b([^>]*?)(?:\/>|>([\s\S]*?)<\/SegmentTemplate>)/.exec(repBody);
      const template = ownTemplate ?? setTemplate;
      const values = { RepresentationID: repAttributes.id ?? '', Bandwidth: repAttributes.bandwidth ?? '' };
      for (const segment of repBody.matchAll(/<(?:Initialization|SegmentURL)\b([^>]*)\/?>/g)) {
        const a = attributes(segment[1]!);
        const ref = a.sourceURL ?? a.media;
        if (ref) out.push(new URL(ref, manifestUrl).toString());
      }
      if (!template) continue;
      const t = attributes(template[1]!);
      if (t.initialization) out.push(new URL(fillTemplate(t.initialization, values), manifestUrl).toString());
      if (!t.media) continue;
      const startNumber = Number(t.startNumber ?? 1);
      const times = template[2] ? timelineTimes(template[2]) : [];
      if (times.length > 0) {
        times.forEach((time, i) => {
          out.push(
            new URL(
              fillTemplate(t.media!, { ...values, Number: startNumber + i, Time: time }),
              manifestUrl,
            ).toString(),
          );
        });
      } else if (t.duration && total > 0) {
        const count = Math.min(
          MAX_RESOURCES,
          Math.ceil((total * Number(t.timescale ?? 1)) / Number(t.duration) - 1e-9),
        );
        for (let i = 0; i < count; i++) {
          out.push(
            new URL(fillTemplate(t.media, { ...values, Number: startNumber + i }), manifestUrl).toString(),
          );
        }
      }
    }
  }
  return out;
}

/** How one request of a warm run ended. */
export interface WarmResult {
  url: string;
  /** HTTP status, or 0 when no response arrived (connection refused, timeout). */
  status: number;
  /** `X-Cache` of the response, when there was one. */
  cache: string | null;
  /** `cached`: the proxy already had it (`X-Cache: HIT-*`); `done`: made or fetched now. */
  outcome: 'done' | 'cached' | 'failed';
  bytes: number;
  ms: number;
  error?: string;
}

/** Totals of a warm run, and the requests that failed. */
export interface WarmSummary {
  total: number;
  done: number;
  cached: number;
  failed: number;
  failures: WarmResult[];
  seconds: number;
}

/** How `warm` runs. */
export interface WarmOptions {
  base: string;
  concurrency: number;
  timeoutSeconds?: number;
  userAgent?: string;
  /** Called after every request with the totals so far (for a progress display). */
  onResult?: (result: WarmResult, progress: { finished: number; known: number }) => void;
  fetch?: typeof fetch;
}

async function drain(body: ReadableStream<Uint8Array> | null): Promise<number> {
  if (!body) return 0;
  let bytes = 0;
  // The whole body is read: a streaming encode whose reader leaves early is cancelled, not cached.
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) bytes += chunk.byteLength;
  return bytes;
}

async function readLimited(response: Response): Promise<string> {
  const declared = Number(response.headers.get('content-length') ?? 0);
  if (declared > MAX_PLAYLIST_BYTES) throw new Error(`playlist of ${declared} bytes is too large`);
  const text = await response.text();
  if (text.length > MAX_PLAYLIST_BYTES) throw new Error('playlist is too large');
  return text;
}

/**
 * Requests every target (and everything the playlists among them list) with at most
 * `concurrency` requests at once, reading each body to the end so the proxy finishes and caches
 * it. Each distinct URL is requested once. Never rejects: failures are counted in the summary.
 */
export async function warm(targets: readonly string[], options: WarmOptions): Promise<WarmSummary> {
  const started = performance.now();
  const doFetch = options.fetch ?? fetch;
  const concurrency = Math.max(1, Math.floor(options.concurrency));
  const queue: string[] = [];
  const seen = new Set<string>();
  const summary: WarmSummary = { total: 0, done: 0, cached: 0, failed: 0, failures: [], seconds: 0 };
  const enqueue = (url: string) => {
    if (seen.has(url) || seen.size >= MAX_RESOURCES) return;
    seen.add(url);
    queue.push(url);
  };
  for (const target of targets) enqueue(resolveTarget(target, options.base));

  const visit = async (url: string): Promise<void> => {
    const begun = performance.now();
    let result: WarmResult;
    try {
      const headers: Record<string, string> = {};
      if (options.userAgent) headers['User-Agent'] = options.userAgent;
      const response = await doFetch(url, {
        headers,
        signal: AbortSignal.timeout((options.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS) * 1000),
      });
      const cache = response.headers.get('x-cache');
      const kind = response.ok ? playlistKind(url, response.headers.get('content-type')) : undefined;
      let bytes: number;
      if (kind) {
        const text = await readLimited(response);
        bytes = Buffer.byteLength(text);
        for (const reference of kind === 'hls' ? hlsReferences(text, url) : dashReferences(text, url))
          enqueue(reference);
      } else {
        bytes = await drain(response.body);
      }
      const outcome = !response.ok ? 'failed' : cache?.toUpperCase().startsWith('HIT') ? 'cached' : 'done';
      result = { url, status: response.status, cache, outcome, bytes, ms: performance.now() - begun };
    } catch (error) {
      const cause = (error as Error & { cause?: Error }).cause;
      const message = cause?.message
        ? `${(error as Error).message}: ${cause.message}`
        : (error as Error).message;
      result = {
        url,
        status: 0,
        cache: null,
        outcome: 'failed',
        bytes: 0,
        ms: performance.now() - begun,
        error: message,
      };
    }
    summary.total++;
    summary[result.outcome]++;
    if (result.outcome === 'failed') summary.failures.push(result);
    options.onResult?.(result, { finished: summary.total, known: seen.size });
  };

  // A worker pool over a queue that grows as playlists are read: a worker that finds the queue
  // empty waits for the others, since any of them may still add references.
  let active = 0;
  await new Promise<void>((resolve) => {
    const pump = () => {
      while (active < concurrency && queue.length > 0) {
        const url = queue.shift()!;
        active++;
        void visit(url).finally(() => {
          active--;
          pump();
        });
      }
      if (active === 0 && queue.length === 0) resolve();
    };
    pump();
  });
  summary.seconds = (performance.now() - started) / 1000;
  return summary;
}

/** A one-line progress bar: `[#####.....] 12/40  3 cached  1 failed`. */
export function progressLine(
  finished: number,
  known: number,
  cached: number,
  failed: number,
  width = 30,
): string {
  const filled = known === 0 ? 0 : Math.round((finished / known) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${finished}/${known}  ${cached} cached  ${failed} failed`;
}

/** The closing report of a warm run. */
export function formatSummary(summary: WarmSummary): string {
  const lines = [
    `warmed ${summary.total} URL(s) in ${summary.seconds.toFixed(1)} s: ${summary.done} done, ${summary.cached} already cached, ${summary.failed} failed`,
  ];
  for (const failure of summary.failures) {
    lines.push(
      `  FAILED ${failure.status || '---'} ${failure.url}${failure.error ? ` (${failure.error})` : ''}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** Where the CLI writes; replaceable in tests. */
export interface CliIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown; isTTY?: boolean };
  readStdin(): Promise<string>;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const PROCESS_IO: CliIo = { stdout: process.stdout, stderr: process.stderr, readStdin };

/** Runs the CLI and returns its exit status (0 ok, 1 some request failed, 2 usage error). */
export async function runCli(argv: readonly string[], io: CliIo = PROCESS_IO): Promise<number> {
  let command: CliCommand;
  try {
    command = parseCliArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr.write(`${error.message}\n\n${USAGE}\n`);
    return 2;
  }
  if (command.command === 'help') {
    io.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (command.command === 'serve') {
    // The server entry point starts on import and keeps the process alive.
    await import('./index.js');
    return 0;
  }
  let targets: string[];
  if (command.prefix !== undefined) {
    try {
      targets = prefixTargets(await listSources(command.prefix), command.transforms, command.thumbnails);
    } catch (error) {
      io.stderr.write(`Cannot list sources under '${command.prefix}': ${(error as Error).message}\n`);
      return 2;
    }
    if (targets.length === 0) {
      io.stderr.write(`No video sources under '${command.prefix}'\n`);
      return 2;
    }
  } else {
    const list = command.list ?? '-';
    let text: string;
    try {
      text = list === '-' ? await io.readStdin() : await readFile(list, 'utf8');
    } catch (error) {
      io.stderr.write(`Cannot read ${list}: ${(error as Error).message}\n`);
      return 2;
    }
    targets = parseUrlList(text);
    if (targets.length === 0) {
      io.stderr.write(`No URLs in ${list === '-' ? 'standard input' : list}\n`);
      return 2;
    }
  }
  let cached = 0;
  let failed = 0;
  const summary = await warm(targets, {
    base: command.base,
    concurrency: command.concurrency,
    timeoutSeconds: command.timeoutSeconds,
    userAgent: command.userAgent,
    onResult(result, progress) {
      if (result.outcome === 'cached') cached++;
      if (result.outcome === 'failed') failed++;
      if (io.stderr.isTTY)
        io.stderr.write(`\r${progressLine(progress.finished, progress.known, cached, failed)}`);
      else {
        const label = result.status ? String(result.status) : 'ERR';
        io.stderr.write(
          `[${progress.finished}/${progress.known}] ${label} ${result.cache ?? '-'} ${Math.round(result.ms)}ms ${result.url}\n`,
        );
      }
    },
  });
  if (io.stderr.isTTY) io.stderr.write('\n');
  io.stdout.write(formatSummary(summary));
  return summary.failed > 0 ? 1 : 0;
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  runCli(process.argv.slice(2)).then(
    (status) => {
      // `serve` keeps running on its own; every other command ends here.
      if (process.argv[2] !== 'serve') process.exitCode = status;
    },
    (error: unknown) => {
      process.stderr.write(`fatal: ${(error as Error).stack ?? String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
