/**
 * Statistics, the markdown table and the TTFT plot of `bench:e2e` (pure functions over worker results).
 */
import type { BenchPresetName, BenchVisualTokens } from '../test/fixtures/bench-models.js';

export interface WorkerTask {
  preset: BenchPresetName;
  visualTokens: BenchVisualTokens;
  /** null = unpruned. */
  budget: number | null;
  reps: number;
  newTokens: number;
  threads: number | null;
  /** Turn off onnxruntime's thread-pool spin-waiting (session.intra_op/inter_op.allow_spinning = 0). */
  noSpin: boolean;
}

export interface RunSample {
  ttftMs: number;
  visionMs: number;
  decoderPrefillMs: number;
  decodeMsPerToken: number;
  selectMs: number;
  importanceMs: number;
}

export interface WorkerResult {
  task: WorkerTask;
  promptTokens: number;
  visualBefore: number;
  visualAfter: number;
  prefillSequence: number;
  loadMs: number;
  rssAfterLoadMb: number;
  peakRssMb: number;
  samples: RunSample[];
}


export interface Spread {
  median: number;
  min: number;
  max: number;
}

export function spread(values: number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted.at(-1)! };
}

export interface Row {
  preset: BenchPresetName;
  visualTokens: number;
  method: 'none' | 'd2pruner';
  kept: number;
  promptTokens: number;
  prefillSequence: number;
  ttftMs: Spread;
  visionMs: Spread;
  decoderPrefillMs: Spread;
  decodeMsPerToken: Spread;
  selectMs: Spread;
  importanceMs: Spread;
  selectShareOfTtft: number;
  peakRssMb: number;
  rssAfterLoadMb: number;
  ttftSpeedup: number;
  prefillSpeedup: number;
}

export function summarise(results: WorkerResult[]): Row[] {
  const rows: Row[] = [];
  for (const r of results) {
    const base = results.find((b) => b.task.preset === r.task.preset && b.task.visualTokens === r.task.visualTokens && b.task.budget === null);
    const pick = (res: WorkerResult, key: keyof RunSample) => spread(res.samples.map((s) => s[key]));
    const ttft = pick(r, 'ttftMs');
    const prefill = pick(r, 'decoderPrefillMs');
    const select = pick(r, 'selectMs');
    rows.push({
      preset: r.task.preset,
      visualTokens: r.task.visualTokens,
      method: r.task.budget === null ? 'none' : 'd2pruner',
      kept: r.visualAfter,
      promptTokens: r.promptTokens,
      prefillSequence: r.prefillSequence,
      ttftMs: ttft,
      visionMs: pick(r, 'visionMs'),
      decoderPrefillMs: prefill,
      decodeMsPerToken: pick(r, 'decodeMsPerToken'),
      selectMs: select,
      importanceMs: pick(r, 'importanceMs'),
      selectShareOfTtft: select.median / ttft.median,
      peakRssMb: r.peakRssMb,
      rssAfterLoadMb: r.rssAfterLoadMb,
      ttftSpeedup: base ? pick(base, 'ttftMs').median / ttft.median : NaN,
      prefillSpeedup: base ? pick(base, 'decoderPrefillMs').median / prefill.median : NaN,
    });
  }
  return rows;
}

export const fmt = (x: number, digits = 0) => (Number.isFinite(x) ? x.toFixed(digits) : '–');
export const fmtSpread = (s: Spread, digits = 0) => `${fmt(s.median, digits)} (${fmt(s.min, digits)}–${fmt(s.max, digits)})`;

export function markdownTable(rows: Row[]): string {
  const header =
    '| model (LLM width) | visual tokens | kept | prefill seq | TTFT ms, median (min–max) | TTFT speedup | decoder prefill ms | prefill speedup | decode ms/token | peak RSS MB | selection ms | selection % of TTFT |';
  const lines = [header, `|${'---|'.repeat(12)}`];
  for (const r of rows) {
    lines.push(
      `| ${r.preset} | ${r.visualTokens} | ${r.method === 'none' ? `${r.kept} (none)` : r.kept} | ${r.prefillSequence} | ${fmtSpread(r.ttftMs)} | ` +
        `${fmt(r.ttftSpeedup, 2)}× | ${fmtSpread(r.decoderPrefillMs)} | ${fmt(r.prefillSpeedup, 2)}× | ${fmtSpread(r.decodeMsPerToken, 1)} | ` +
        `${fmt(r.peakRssMb)} | ${r.method === 'none' ? '–' : fmt(r.selectMs.median, 2)} | ${r.method === 'none' ? '–' : `${fmt(100 * r.selectShareOfTtft, 2)}%`} |`,
    );
  }
  return lines.join('\n');
}

/** TTFT (median, with min–max bars) against kept visual tokens, one line per model × visual-token count. */
export function plotSvg(rows: Row[]): string {
  const width = 800;
  const height = 440;
  const margin = { left: 70, right: 230, top: 40, bottom: 50 };
  const groups = new Map<string, Row[]>();
  for (const r of rows) {
    const key = `${r.preset} · ${r.visualTokens} tokens`;
    groups.set(key, [...(groups.get(key) ?? []), r].sort((a, b) => a.kept - b.kept));
  }
  // log–log axes: the unpruned point of a 2,304-token model would otherwise squeeze everything else
  const minX = Math.min(...rows.map((r) => r.kept)) / 1.25;
  const maxX = Math.max(...rows.map((r) => r.kept)) * 1.1;
  const minY = Math.min(...rows.map((r) => r.ttftMs.min)) / 1.3;
  const maxY = Math.max(...rows.map((r) => r.ttftMs.max)) * 1.3;
  const lx = (v: number) => (Math.log(v) - Math.log(minX)) / (Math.log(maxX) - Math.log(minX));
  const ly = (v: number) => (Math.log(v) - Math.log(minY)) / (Math.log(maxY) - Math.log(minY));
  const x = (v: number) => margin.left + lx(v) * (width - margin.left - margin.right);
  const y = (v: number) => height - margin.bottom - ly(v) * (height - margin.top - margin.bottom);
  const colours = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="DejaVu Sans, Arial, sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2 - 80}" y="22" font-size="15">Time to first token vs kept visual tokens</text>`,
    `<line x1="${margin.left}" y1="${y(minY)}" x2="${width - margin.right}" y2="${y(minY)}" stroke="black"/>`,
    `<line x1="${margin.left}" y1="${y(minY)}" x2="${margin.left}" y2="${margin.top}" stroke="black"/>`,
    `<text x="${(margin.left + width - margin.right) / 2 - 70}" y="${height - 12}">kept visual tokens (log scale)</text>`,
    `<text transform="translate(18 ${height / 2 + 50}) rotate(-90)">TTFT, ms (log scale)</text>`,
  ];
  for (let decade = 10 ** Math.floor(Math.log10(minY)); decade <= maxY; decade *= 10) {
    for (const m of [1, 2, 5]) {
      const v = decade * m;
      if (v < minY || v > maxY) continue;
      parts.push(`<line x1="${margin.left - 4}" y1="${y(v)}" x2="${width - margin.right}" y2="${y(v)}" stroke="#ddd"/>`);
      parts.push(`<text x="${margin.left - 8}" y="${y(v) + 4}" text-anchor="end">${v}</text>`);
    }
  }
  const ticks = [...new Set(rows.map((r) => r.kept))].sort((a, b) => a - b);
  for (const t of ticks) parts.push(`<text x="${x(t)}" y="${y(minY) + 18}" text-anchor="middle">${t}</text>`);
  [...groups.entries()].forEach(([key, points], i) => {
    const colour = colours[i % colours.length];
    parts.push(
      `<polyline fill="none" stroke="${colour}" stroke-width="2" points="${points.map((p) => `${x(p.kept)},${y(p.ttftMs.median)}`).join(' ')}"/>`,
    );
    for (const p of points) {
      parts.push(`<line x1="${x(p.kept)}" y1="${y(p.ttftMs.min)}" x2="${x(p.kept)}" y2="${y(p.ttftMs.max)}" stroke="${colour}"/>`);
      parts.push(`<circle cx="${x(p.kept)}" cy="${y(p.ttftMs.median)}" r="3.5" fill="${colour}"/>`);
    }
    parts.push(`<rect x="${width - margin.right + 15}" y="${margin.top + 20 * i}" width="12" height="12" fill="${colour}"/>`);
    parts.push(`<text x="${width - margin.right + 32}" y="${margin.top + 20 * i + 10}">${key}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}
