/**
 * Throwaway check: encodes one 4 s 720p segment of a generated source through the ABS argv and
 * compares the wall time with raw ffmpeg encoding the same 4 s with the same settings.
 * Run: npx tsx scripts/abs-prototype.ts
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { absVideoSegmentArgs } from '../src/abs/argv.js';
import { splitInitAndMedia } from '../src/abs/fmp4.js';
import { planAbs } from '../src/abs/plan.js';
import { FFMPEG, makeSource, run, runSteps, serveFile } from '../test/abs/support.js';
import { probeMediaInfo } from '../test/support/ffprobe.js';
import { readFragments } from '../test/support/fmp4.js';

const dir = mkdtempSync(path.join(tmpdir(), 'abs-proto-'));
try {
  const source = path.join(dir, 'src.mp4');
  makeSource(source, { width: 1920, height: 1080, rate: '30000/1001', seconds: 20, toneHz: 440 });
  const info = await probeMediaInfo(source);
  const plan = planAbs({ sr: [720] }, info, 4);
  const server = await serveFile(source);
  const index = 2;
  const steps = absVideoSegmentArgs(server.input, plan, 720, index).steps;
  const timings: Array<[string, number]> = [];
  for (let round = 0; round < 3; round++) {
    let t = performance.now();
    const out = await runSteps(steps);
    timings.push(['segment', performance.now() - t]);
    const { media } = splitInitAndMedia(out);
    if (round === 0) console.log('fragments', readFragments(media));
    // Raw: the same filters and encoder settings, one plain ffmpeg run from the local file.
    const raw = steps[0]!.slice();
    const i = raw.indexOf('-i');
    raw[i + 1] = source;
    raw.splice(raw.indexOf('-protocol_whitelist'), 2);
    raw.splice(raw.length - 1, 1, path.join(dir, 'raw.mp4'));
    raw.unshift('-y');
    t = performance.now();
    run(FFMPEG, raw);
    timings.push(['raw', performance.now() - t]);
  }
  await server.close();
  for (const [name, ms] of timings) console.log(name, ms.toFixed(0), 'ms');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
