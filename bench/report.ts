/** One line of the results table. */
export interface Row {
  /** Scenario number and short name, e.g. `1 cold thumbnail`. */
  scenario: string;
  /** What this line measures. */
  metric: string;
  /** Median of the proxy's figure, formatted. */
  proxy: string;
  /** Median of the reference's figure, formatted (or `-` for an absolute bar). */
  reference: string;
  /** The compared figure: a ratio (`1.12x`), a percentage, or the absolute value tested. */
  ratio: string;
  bar: string;
  /** true: bar met; false: missed; undefined: nothing to judge (informational or not available). */
  pass: boolean | undefined;
}

/** Builds the ratio column of a "proxy / reference" row. */
export function ratioText(ratio: number): string {
  return Number.isFinite(ratio) ? `${ratio.toFixed(2)}x` : '-';
}

function verdict(pass: boolean | undefined): string {
  if (pass === undefined) return '';
  return pass ? 'ok' : '**MISSED**';
}

/** The rows as a Markdown table (also what the console shows). */
export function markdownTable(rows: readonly Row[]): string {
  const header = '| scenario | metric | proxy (median) | reference (median) | ratio / value | bar | result |';
  const rule = '|---|---|---|---|---|---|---|';
  const lines = rows.map(
    (row) =>
      `| ${row.scenario} | ${row.metric} | ${row.proxy} | ${row.reference} | ${row.ratio} | ${row.bar} | ${verdict(row.pass)} |`,
  );
  return [header, rule, ...lines].join('\n');
}

/** The machine a run happened on, for the record. */
export interface MachineInfo {
  date: string;
  cpus: number;
  cpuModel: string;
  memory: string;
  node: string;
  ffmpeg: string;
  /** 1/5/15-minute load averages when the run started and ended (other work on the host skews figures). */
  loadAtStart: string;
  loadAtEnd: string;
  durationSeconds: number;
}

/** The whole of docs/benchmarks.md. */
export function benchmarksDocument(
  machine: MachineInfo,
  rows: readonly Row[],
  details: readonly string[],
  method: string,
): string {
  const missed = rows.filter((row) => row.pass === false).length;
  const judged = rows.filter((row) => row.pass !== undefined).length;
  return `# Benchmarks

Latest \`npm run bench\` run (this file is rewritten by every run). Every ratio is proxy / reference,
both measured in the same run, interleaved, median of the repetitions.

- Date: ${machine.date}
- Machine: ${machine.cpus} x ${machine.cpuModel}, ${machine.memory} RAM
- Node ${machine.node}, ${machine.ffmpeg}
- Load average at start ${machine.loadAtStart}, at end ${machine.loadAtEnd} (a shared host skews absolute figures; ratios less so)
- Run time: ${Math.round(machine.durationSeconds)} s
- Bars met: ${judged - missed} of ${judged}

${markdownTable(rows)}

## Details

${details.map((line) => `- ${line}`).join('\n')}

## Method

${method}
`;
}
