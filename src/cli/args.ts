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
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Where relative paths go when `--base` is not given: the proxy's own default address. */
export const DEFAULT_BASE = 'http://127.0.0.1:8080';
export const DEFAULT_CONCURRENCY = 2;
export const DEFAULT_TIMEOUT_SECONDS = 600;
/** What `--prefix` warms per source when neither `--tr` nor `--thumbnail` is given. */
const DEFAULT_PREFIX_TRANSFORM = 'sr-240_360_720';
const DEFAULT_PREFIX_THUMBNAIL = 'w-300';

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
                        default ${DEFAULT_PREFIX_TRANSFORM}
  --thumbnail <T>       with --prefix: a thumbnail to warm per source; default ${DEFAULT_PREFIX_THUMBNAIL}

Lines may be paths (/v/a.mp4?tr=w-640) or full URLs; blank lines and lines starting with # are skipped.
For .m3u8 and .mpd URLs every playlist, init segment and media segment they list is requested too.
Exit status: 0 when everything succeeded, 1 when some request failed, 2 on a usage error.`;

function positiveInteger(flag: string, raw: string | undefined, max: number): number {
  if (raw === undefined || !/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > max) {
    throw new UsageError(`${flag} expects a whole number from 1 to ${max}`);
  }
  return Number(raw);
}

/**
 * Parses the arguments after the program name. Pure.
 *
 * @throws UsageError saying what is wrong with the command line.
 */
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
  const warm: WarmCommand = {
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
    else if (flag === '--tr') warm.transforms.push(value());
    else if (flag === '--thumbnail') warm.thumbnails.push(value());
    else if (flag.startsWith('--')) throw new UsageError(`Unknown option ${flag}`);
    else if (warm.list === undefined) warm.list = arg;
    else throw new UsageError(`Unexpected argument '${arg}': give one file (or -)`);
  }
  if (warm.prefix !== undefined) {
    if (warm.list !== undefined) throw new UsageError('Give either a file of URLs or --prefix, not both');
    if (warm.transforms.length === 0 && warm.thumbnails.length === 0) {
      warm.transforms.push(DEFAULT_PREFIX_TRANSFORM);
      warm.thumbnails.push(DEFAULT_PREFIX_THUMBNAIL);
    }
  } else if (warm.list === undefined) {
    throw new UsageError('warm needs a file with URLs, - to read them from standard input, or --prefix');
  } else if (warm.transforms.length > 0 || warm.thumbnails.length > 0) {
    throw new UsageError('--tr and --thumbnail go with --prefix');
  }
  return warm;
}
