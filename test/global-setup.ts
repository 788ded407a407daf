import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const INSTALL_COMMAND = 'sudo apt-get update && sudo apt-get install -y ffmpeg';
const MINIMUM_FFMPEG_MAJOR = 5;

/** Fails the run before any test when a tool is missing, naming the command that fixes it. */
function requireTool(binary: string, name: 'ffmpeg' | 'ffprobe'): void {
  const result = spawnSync(binary, ['-hide_banner', '-version'], { encoding: 'utf8' });
  if (result.error || result.status !== 0) {
    throw new Error(
      `${name} was not found (tried '${binary}'). The tests need ffmpeg and ffprobe ${MINIMUM_FFMPEG_MAJOR} or newer.\n` +
        `Install them with:\n  ${INSTALL_COMMAND}\n` +
        `or point ${name === 'ffmpeg' ? 'FFMPEG_PATH' : 'FFPROBE_PATH'} at the binary.`,
    );
  }
  // Release builds say "ffmpeg version 5.1.9-..."; git builds ("N-1234-g...") carry no number to check.
  const major = /version (\d+)\./.exec(result.stdout)?.[1];
  if (major !== undefined && Number(major) < MINIMUM_FFMPEG_MAJOR) {
    throw new Error(
      `${name} ${major}.x is too old; ${MINIMUM_FFMPEG_MAJOR} or newer is needed:\n  ${INSTALL_COMMAND}`,
    );
  }
}

/**
 * Vitest global setup: checks ffmpeg/ffprobe, then runs the fixture script, which makes only what is
 * missing from `fixtures/` (a no-op that takes milliseconds when everything is committed).
 */
export default async function setup(): Promise<void> {
  requireTool(process.env.FFMPEG_PATH || 'ffmpeg', 'ffmpeg');
  requireTool(process.env.FFPROBE_PATH || 'ffprobe', 'ffprobe');
  const script = path.join(REPO_ROOT, 'scripts', 'make-fixtures.mjs');
  const result = spawnSync(process.execPath, [script, '--quiet'], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (result.error || result.status !== 0) {
    throw new Error(`scripts/make-fixtures.mjs failed (exit ${result.status}); see its output above.`);
  }
}
