/**
 * Reports of `d2pruner eval`: a Markdown table (accuracy and % of unpruned per task, mean retention) and an
 * SVG plot of accuracy against kept visual tokens, one panel per task, one line per method setting.
 */
import type { Outcome } from './checkpoint.js';
import type { ResultRow, TimingRow } from './run.js';

/** Options of {@link markdownTable}. */
export interface TableOptions {
  /**
   * Print each accuracy's standard error, √(p(1−p)/n) (binomial, over the task's n cases), as `0.880 ±0.023`.
   * Default false.
   */
  standardErrors?: boolean;
}

/** Standard error of an accuracy `p` over `n` cases: √(p(1−p)/n) (0 for n = 0). */
export function standardError(accuracy: number, n: number): number {
  return n > 0 ? Math.sqrt((accuracy * (1 - accuracy)) / n) : 0;
}

/** Accuracy of the unpruned run per task. */
function baseline(rows: readonly ResultRow[]): Map<string, number> {
  return new Map(rows.filter((r) => r.budget === 'all').map((r) => [r.task, r.accuracy]));
}

/** Retention of a row: accuracy / unpruned accuracy (undefined when the unpruned accuracy is 0). */
export function retention(row: ResultRow, base: Map<string, number>): number | undefined {
  const b = base.get(row.task);
  return b && b > 0 ? row.accuracy / b : undefined;
}

/**
 * Markdown table: one line per method setting and budget, per task `accuracy (retention %)`, the mean
 * retention over tasks, and the mean prefill time when timings are given.
 */
export function markdownTable(rows: readonly ResultRow[], timing: readonly TimingRow[] = [], tokens?: number, timeLabel = 'prefill ms', options: TableOptions = {}): string {
  const tasks = [...new Set(rows.map((r) => r.task))];
  const base = baseline(rows);
  const keys: { method: string; budget: number | 'all' }[] = [];
  for (const r of rows) if (!keys.some((k) => k.method === r.method && k.budget === r.budget)) keys.push({ method: r.method, budget: r.budget });
  const withTime = timing.length > 0;
  const head = ['method', 'kept', ...tasks.map((t) => `${t} (n=${rows.find((r) => r.task === t)!.n})`), 'mean retention', ...(withTime ? [timeLabel] : [])];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i < 2 ? '---' : '---:')).join('|')}|`];
  for (const key of keys) {
    const cells: string[] = [key.method, key.budget === 'all' ? `all${tokens ? ` (${tokens})` : ''}` : String(key.budget)];
    const kept: number[] = [];
    for (const task of tasks) {
      const row = rows.find((r) => r.method === key.method && r.budget === key.budget && r.task === task);
      if (!row) {
        cells.push('–');
        continue;
      }
      const ret = retention(row, base);
      if (ret !== undefined) kept.push(ret);
      const accuracy = options.standardErrors ? `${row.accuracy.toFixed(3)} ±${standardError(row.accuracy, row.n).toFixed(3)}` : row.accuracy.toFixed(3);
      cells.push(key.budget === 'all' || ret === undefined ? accuracy : `${accuracy} (${Math.round(ret * 100)}%)`);
    }
    cells.push(kept.length ? `${((100 * kept.reduce((a, b) => a + b, 0)) / kept.length).toFixed(1)}%` : '–');
    if (withTime) {
      const t = timing.find((x) => x.method === key.method && x.budget === key.budget);
      cells.push(t ? t.prefillMs.toFixed(1) : '–');
    }
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n') + '\n';
}

/** One paired comparison of two method settings at one budget over the same cases. */
export interface PairedCount {
  a: string;
  b: string;
  budget: number | 'all';
  /** Cases with both outcomes. */
  n: number;
  /** Cases `a` answers right and `b` wrong, and the other way round. */
  onlyA: number;
  onlyB: number;
  /** Two-sided exact sign test (McNemar) on the discordant cases: P(a split at least this uneven | no difference). */
  p: number;
}

/** Two-sided exact binomial test of `k` successes in `n` trials at 1/2. */
function signTest(k: number, n: number): number {
  if (n === 0) return 1;
  const low = Math.min(k, n - k);
  let tail = 0;
  let term = Math.pow(0.5, n); // C(n, 0) / 2^n
  for (let i = 0; i <= low; i++) {
    tail += term;
    term = (term * (n - i)) / (i + 1);
  }
  return Math.min(1, 2 * tail);
}

/**
 * Paired counts of method `a` against each of `others` at each budget: over the cases both were run on,
 * how many `a` answers right and the other wrong, and the other way round (the discordant pairs that decide
 * a paired comparison; the accuracies' difference is (onlyA − onlyB) / n).
 * @param outcomes per case, its outcomes (what `runEval` returns as `outcomes`).
 */
export function pairedCounts(outcomes: readonly (readonly Outcome[])[], a: string, others: readonly string[], budgets: readonly (number | 'all')[]): PairedCount[] {
  const result: PairedCount[] = [];
  for (const budget of budgets) {
    for (const b of others) {
      let n = 0;
      let onlyA = 0;
      let onlyB = 0;
      for (const list of outcomes) {
        const x = list.find((o) => o.label === a && o.budget === budget);
        const y = list.find((o) => o.label === b && o.budget === budget);
        if (!x || !y) continue;
        n++;
        if (x.right && !y.right) onlyA++;
        if (!x.right && y.right) onlyB++;
      }
      if (n > 0) result.push({ a, b, budget, n, onlyA, onlyB, p: signTest(onlyA, onlyA + onlyB) });
    }
  }
  return result;
}

/** Markdown table of {@link pairedCounts}: one line per comparison. */
export function pairedTable(counts: readonly PairedCount[]): string {
  const lines = ['| a vs b | kept | cases | a right, b wrong | a wrong, b right | difference | sign test p |', '|---|---|---:|---:|---:|---:|---:|'];
  for (const c of counts) {
    const diff = (100 * (c.onlyA - c.onlyB)) / c.n;
    lines.push(`| ${c.a} vs ${c.b} | ${c.budget} | ${c.n} | ${c.onlyA} | ${c.onlyB} | ${diff >= 0 ? '+' : ''}${diff.toFixed(1)} pts | ${c.p < 0.001 ? '<0.001' : c.p.toFixed(3)} |`);
  }
  return lines.join('\n') + '\n';
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf', '#000000', '#aec7e8', '#ff9896', '#98df8a'];

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * SVG plot: per task a panel of accuracy (0–1) against kept tokens (log scale), a line per method setting,
 * the unpruned accuracy as a dashed line. `title` goes on top.
 */
export function accuracyPlot(rows: readonly ResultRow[], title: string): string {
  const tasks = [...new Set(rows.map((r) => r.task))];
  const methods = [...new Set(rows.filter((r) => r.budget !== 'all').map((r) => r.method))];
  const budgets = [...new Set(rows.filter((r) => r.budget !== 'all').map((r) => r.budget as number))].sort((a, b) => a - b);
  const base = baseline(rows);
  const panelW = 300;
  const panelH = 220;
  const margin = { left: 45, right: 15, top: 40, bottom: 40 };
  const legendW = 200;
  const width = tasks.length * (panelW + margin.left + margin.right) + legendW;
  const height = panelH + margin.top + margin.bottom + 20;
  const lo = Math.log(Math.max(1, budgets[0] ?? 1));
  const hi = Math.log(Math.max(2, budgets[budgets.length - 1] ?? 2));
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="16" font-size="13" font-weight="bold">${escapeXml(title)}</text>`,
  ];
  tasks.forEach((task, t) => {
    const ox = t * (panelW + margin.left + margin.right) + margin.left;
    const oy = margin.top;
    const x = (b: number) => ox + (hi > lo ? ((Math.log(b) - lo) / (hi - lo)) * panelW : panelW / 2);
    const y = (a: number) => oy + (1 - a) * panelH;
    parts.push(`<text x="${ox + panelW / 2}" y="${oy - 8}" text-anchor="middle" font-weight="bold">${escapeXml(task)}</text>`);
    parts.push(`<rect x="${ox}" y="${oy}" width="${panelW}" height="${panelH}" fill="none" stroke="#999"/>`);
    for (const a of [0, 0.25, 0.5, 0.75, 1]) {
      parts.push(`<line x1="${ox}" x2="${ox + panelW}" y1="${y(a)}" y2="${y(a)}" stroke="#eee"/>`);
      parts.push(`<text x="${ox - 5}" y="${y(a) + 4}" text-anchor="end">${a}</text>`);
    }
    for (const b of budgets) parts.push(`<text x="${x(b)}" y="${oy + panelH + 14}" text-anchor="middle">${b}</text>`);
    parts.push(`<text x="${ox + panelW / 2}" y="${oy + panelH + 30}" text-anchor="middle">visual tokens kept</text>`);
    const b0 = base.get(task);
    if (b0 !== undefined) {
      parts.push(`<line x1="${ox}" x2="${ox + panelW}" y1="${y(b0)}" y2="${y(b0)}" stroke="#000" stroke-dasharray="5,4"/>`);
    }
    methods.forEach((method, m) => {
      const points = budgets
        .map((b) => rows.find((r) => r.method === method && r.budget === b && r.task === task))
        .filter((r): r is ResultRow => r !== undefined)
        .map((r) => `${x(r.budget as number).toFixed(1)},${y(r.accuracy).toFixed(1)}`);
      const colour = PALETTE[m % PALETTE.length]!;
      parts.push(`<polyline fill="none" stroke="${colour}" stroke-width="1.8" points="${points.join(' ')}"/>`);
      for (const p of points) {
        const [px, py] = p.split(',');
        parts.push(`<circle cx="${px}" cy="${py}" r="2.5" fill="${colour}"/>`);
      }
    });
  });
  const lx = tasks.length * (panelW + margin.left + margin.right) + 10;
  parts.push(`<line x1="${lx}" x2="${lx + 20}" y1="${margin.top + 4}" y2="${margin.top + 4}" stroke="#000" stroke-dasharray="5,4"/>`);
  parts.push(`<text x="${lx + 26}" y="${margin.top + 8}">unpruned (all tokens)</text>`);
  methods.forEach((method, m) => {
    const ly = margin.top + 20 + m * 16;
    parts.push(`<line x1="${lx}" x2="${lx + 20}" y1="${ly}" y2="${ly}" stroke="${PALETTE[m % PALETTE.length]}" stroke-width="2"/>`);
    parts.push(`<text x="${lx + 26}" y="${ly + 4}">${escapeXml(method)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
