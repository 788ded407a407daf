import { writeFile } from 'node:fs/promises';
import { mustRun } from './util.js';

/** What one wrk run measured. */
export interface WrkResult {
  requestsPerSecond: number;
  /** Bytes per second read (headers and bodies), as wrk reports it. */
  bytesPerSecond: number;
  /** Latency percentiles in milliseconds (from `--latency`). */
  p50Ms: number;
  p99Ms: number;
  requests: number;
  /** Responses outside 2xx/3xx. */
  non2xx: number;
  /** Socket errors of all kinds (connect, read, write, timeout). */
  socketErrors: number;
}

const TIME_UNITS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };
const SIZE_UNITS: Record<string, number> = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };

function parseTime(text: string): number {
  const match = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (!match) return Number.NaN;
  return Number(match[1]) * TIME_UNITS[match[2]!]!;
}

function parseSize(text: string): number {
  const match = /^([\d.]+)(B|KB|MB|GB|TB)$/.exec(text.trim());
  if (!match) return Number.NaN;
  return Number(match[1]) * SIZE_UNITS[match[2]!]!;
}

/** Parses the text wrk 4.x prints with `--latency`. Missing figures are NaN (and make a row visibly wrong). */
export function parseWrkOutput(text: string): WrkResult {
  const percentile = (p: string) => parseTime(new RegExp(`^\\s+${p}%\\s+(\\S+)`, 'm').exec(text)?.[1] ?? '');
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  return {
    requestsPerSecond: Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? Number.NaN),
    bytesPerSecond: parseSize(/Transfer\/sec:\s+(\S+)/.exec(text)?.[1] ?? ''),
    p50Ms: percentile('50'),
    p99Ms: percentile('99'),
    requests: Number(/(\d+) requests in/.exec(text)?.[1] ?? Number.NaN),
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0),
    socketErrors: socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0,
  };
}

/** Options of one bounded wrk run. */
export interface WrkOptions {
  url: string;
  connections: number;
  threads: number;
  seconds: number;
  /** A Lua script file (`-s`). */
  script?: string;
}

/** Runs wrk with `--latency` for a fixed time and parses its report. */
export async function runWrk(options: WrkOptions): Promise<WrkResult> {
  const args = [
    `-c${options.connections}`,
    `-t${options.threads}`,
    `-d${options.seconds}s`,
    '--timeout',
    '10s',
    '--latency',
    ...(options.script ? ['-s', options.script] : []),
    options.url,
  ];
  const result = await mustRun('wrk', args, (options.seconds + 30) * 1000);
  return parseWrkOutput(result.stdout);
}

/**
 * Writes a wrk Lua script that asks for random `chunkBytes` ranges of a `totalBytes` body. Each
 * thread seeds its generator from its index, so two servers measured with it see the same
 * sequence of ranges.
 */
export async function writeRangeScript(file: string, totalBytes: number, chunkBytes: number): Promise<void> {
  const script = `
local counter = 1
function setup(thread)
  thread:set("seed", counter)
  counter = counter + 1
end
function init(args)
  math.randomseed(seed * 7919)
end
request = function()
  local first = math.random(0, ${totalBytes - chunkBytes})
  return wrk.format("GET", nil, { ["Range"] = "bytes=" .. first .. "-" .. (first + ${chunkBytes - 1}) })
end
`;
  await writeFile(file, script);
}
