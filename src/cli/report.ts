import type { WarmSummary } from './warm.js';

/** A one-line progress bar: `[#####.....] 12/40  3 cached  1 failed`. Pure. */
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

/** The closing report of a warm run: totals, then one line per failure. Pure. */
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
