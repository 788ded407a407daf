#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { type CliCommand, parseCliArgs, USAGE, UsageError, type WarmCommand } from './args.js';
import { formatSummary, progressLine } from './report.js';
import { listOriginSources } from './sources.js';
import { parseUrlList, prefixTargets } from './targets.js';
import { warm } from './warm.js';

/**
 * The `ik-video-proxy` command (`bin` in package.json, `npm run warm`): `serve` starts the proxy,
 * `warm` requests URLs so the caches hold them. `args.ts` parses, `targets.ts` and `sources.ts`
 * decide what to request, `warm.ts` requests it, `report.ts` prints.
 */

export { type CliCommand, parseCliArgs, USAGE, UsageError, type WarmCommand } from './args.js';
export { formatSummary, progressLine } from './report.js';
export { parseUrlList, prefixTargets, resolveTarget } from './targets.js';
export { type WarmOptions, type WarmResult, type WarmSummary, warm } from './warm.js';

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

/** The URLs a warm command asks for, or a message for standard error and exit status 2. */
async function warmTargets(command: WarmCommand, io: CliIo): Promise<string[] | { problem: string }> {
  if (command.prefix !== undefined) {
    let paths: string[];
    try {
      paths = await listOriginSources(command.prefix, process.env);
    } catch (error) {
      return { problem: `Cannot list sources under '${command.prefix}': ${(error as Error).message}` };
    }
    const targets = prefixTargets(paths, command.transforms, command.thumbnails);
    return targets.length > 0 ? targets : { problem: `No video sources under '${command.prefix}'` };
  }
  const list = command.list ?? '-';
  let text: string;
  try {
    text = list === '-' ? await io.readStdin() : await readFile(list, 'utf8');
  } catch (error) {
    return { problem: `Cannot read ${list}: ${(error as Error).message}` };
  }
  const targets = parseUrlList(text);
  return targets.length > 0 ? targets : { problem: `No URLs in ${list === '-' ? 'standard input' : list}` };
}

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
    await import('../index.js');
    return 0;
  }
  const targets = await warmTargets(command, io);
  if (!Array.isArray(targets)) {
    io.stderr.write(`${targets.problem}\n`);
    return 2;
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

/** Whether this module is the script node was started with (not imported by a test). */
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
