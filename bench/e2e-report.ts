/**
 * Statistics, the markdown table and the TTFT plot of `bench:e2e` (pure functions over worker results).
 */
import type { BenchPresetName, BenchVisualTokens } from '../test/fixtures/bench-models.js';

export interface WorkerTask {
  preset: BenchPresetName;
  visualTokens: BenchVisualTokens;
  /** null = unpruned. */
  budget: number | null;
  /**
   * Where the pruned runs prune: 0 = at the decoder input (prompt relevance), K ≥ 1 = inside the decoder before
   * layer K (the automatic split, attention importance). Absent in results written before layer rows existed.
   */
  layer?: number;
  reps: number;
  newTokens: number;
  threads: number | null;
  /** Turn off onnxruntime's thread-pool spin-waiting (session.intra_op/inter_op.allow_spinning = 0). */
  noSpin: boolean;
}

export interface RunSample {
  ttftMs: number;
  visionMs: number;
  /** Decoder session time of the prefill: the one decoder run, or prefix + suffix at layer K. */
  decoderPrefillMs: number;
  /** The prefix session's prefill run (layer K only; 0 otherwise). */
  prefixMs?: number;
  decodeMsPerToken: number;
  selectMs: number;
  /** The pruning report's importance time (at layer K it includes the prefix session run). */
  importanceMs: number;
  /**
   * Issue 15: overhead = TTFT − vision encoder − decoder session time, and its parts: importance (JS only,
   * the prefix run taken out), selection, gather/merge (from the vision encoder's end to the last decoder
   * session's start, less the prefix run, importance and selection: the host's feature merge, the wrapper's
   * gathers and position bookkeeping), embed_tokens (session) and other (generate() setup, logits processing,
   * sampling the first token).
   */
  overheadMs?: number;
  overheadImportanceMs?: number;
  gatherMs?: number;
  embedMs?: number;
  otherMs?: number;
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
  /** Time to split the decoder and create the prefix and suffix sessions (layer K only). */
  splitMs?: number;
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
  /** 0 = pruned at the decoder input (or unpruned), K = inside the decoder before layer K. */
  layer: number;
  kept: number;
  promptTokens: number;
  prefillSequence: number;
  ttftMs: Spread;
  visionMs: Spread;
  decoderPrefillMs: Spread;
  decodeMsPerToken: Spread;
  selectMs: Spread;
  importanceMs: Spread;
  prefixMs: Spread;
  /** Prefix session time as a share of this row's decoder prefill (layer K only, else NaN). */
  prefixShare: number;
  overheadMs: Spread;
  overheadImportanceMs: Spread;
  gatherMs: Spread;
  embedMs: Spread;
  otherMs: Spread;
  splitMs: number;
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
    const pick = (res: WorkerResult, key: keyof RunSample) => spread(res.samples.map((s) => s[key] ?? NaN));
    const ttft = pick(r, 'ttftMs');
    const prefill = pick(r, 'decoderPrefillMs');
    const select = pick(r, 'selectMs');
    rows.push({
      preset: r.task.preset,
      visualTokens: r.task.visualTokens,
      method: r.task.budget === null ? 'none' : 'd2pruner',
      layer: r.task.budget === null ? 0 : (r.task.layer ?? 0),
      kept: r.visualAfter,
      promptTokens: r.promptTokens,
      prefillSequence: r.prefillSequence,
      ttftMs: ttft,
      visionMs: pick(r, 'visionMs'),
      decoderPrefillMs: prefill,
      decodeMsPerToken: pick(r, 'decodeMsPerToken'),
      selectMs: select,
      importanceMs: pick(r, 'importanceMs'),
      prefixMs: pick(r, 'prefixMs'),
      prefixShare: (r.task.layer ?? 0) > 0 && r.task.budget !== null ? pick(r, 'prefixMs').median / prefill.median : NaN,
      overheadMs: pick(r, 'overheadMs'),
      overheadImportanceMs: pick(r, 'overheadImportanceMs'),
      gatherMs: pick(r, 'gatherMs'),
      embedMs: pick(r, 'embedMs'),
      otherMs: pick(r, 'otherMs'),
      splitMs: r.splitMs ?? NaN,
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

/** Where a row prunes, as the tables print it. */
export function modeLabel(r: Pick<Row, 'method' | 'layer'>): string {
  if (r.method === 'none') return '–';
  return r.layer > 0 ? `layer ${r.layer}` : 'input';
}

export function markdownTable(rows: Row[]): string {
  const header =
    '| model (LLM width) | visual tokens | pruned at | kept | prefill seq | TTFT ms, median (min–max) | TTFT speedup | decoder prefill ms | prefill speedup | prefix ms (share of prefill) | decode ms/token | peak RSS MB | selection ms | selection % of TTFT |';
  const lines = [header, `|${'---|'.repeat(14)}`];
  for (const r of rows) {
    const prefix = r.layer > 0 && r.method !== 'none' ? `${fmt(r.prefixMs.median)} (${fmt(100 * r.prefixShare)}%)` : '–';
    lines.push(
      `| ${r.preset} | ${r.visualTokens} | ${modeLabel(r)} | ${r.method === 'none' ? `${r.kept} (none)` : r.kept} | ${r.prefillSequence} | ${fmtSpread(r.ttftMs)} | ` +
        `${fmt(r.ttftSpeedup, 2)}× | ${fmtSpread(r.decoderPrefillMs)} | ${fmt(r.prefillSpeedup, 2)}× | ${prefix} | ${fmtSpread(r.decodeMsPerToken, 1)} | ` +
        `${fmt(r.peakRssMb)} | ${r.method === 'none' ? '–' : fmt(r.selectMs.median, 2)} | ${r.method === 'none' ? '–' : `${fmt(100 * r.selectShareOfTtft, 2)}%`} |`,
    );
  }
  return lines.join('\n');
}

/**
 * Issue 15's overhead column: TTFT − vision encoder − decoder session time (medians), broken down into
 * importance (JS), selection, gather/merge, embed_tokens and other. Unpruned rows show the host's own share.
 */
export function overheadTable(rows: Row[]): string {
  const header =
    '| model | visual tokens | pruned at | kept | TTFT ms | vision ms | decoder sessions ms | overhead ms (% of TTFT) | importance ms | selection ms | gather/merge ms | embed_tokens ms | other ms |';
  const lines = [header, `|${'---|'.repeat(13)}`];
  for (const r of rows) {
    lines.push(
      `| ${r.preset} | ${r.visualTokens} | ${modeLabel(r)} | ${r.kept} | ${fmt(r.ttftMs.median)} | ${fmt(r.visionMs.median)} | ${fmt(r.decoderPrefillMs.median)} | ` +
        `${fmt(r.overheadMs.median)} (${fmt((100 * r.overheadMs.median) / r.ttftMs.median, 1)}%) | ${fmt(r.overheadImportanceMs.median, 1)} | ${fmt(r.selectMs.median, 1)} | ` +
        `${fmt(r.gatherMs.median, 1)} | ${fmt(r.embedMs.median, 1)} | ${fmt(r.otherMs.median, 1)} |`,
    );
  }
  return lines.join('\n');
}

/** TTFT (median, with min–max bars) against kept visual tokens, one line per model × visual-token count. */
export function plotSvg(rows: Row[]): string {
  const width = 860;
  const height = 440;
  const margin = { left: 70, right: 260, top: 40, bottom: 50 };
  // One line per model × visual tokens × pruning mode, each starting from the shared unpruned point.
  const groups = new Map<string, Row[]>();
  const pruned = rows.filter((r) => r.method !== 'none');
  for (const r of pruned.length ? pruned : rows) {
    const key = `${r.preset} · ${r.visualTokens} · ${r.method === 'none' ? 'none' : modeLabel(r)}`;
    if (!groups.has(key)) groups.set(key, rows.filter((b) => b.method === 'none' && b.preset === r.preset && b.visualTokens === r.visualTokens));
    if (r.method !== 'none') groups.get(key)!.push(r);
  }
  for (const points of groups.values()) points.sort((a, b) => a.kept - b.kept);
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
  // One colour per model and token count; pruning inside the decoder (layer K) dashed, at the input solid.
  const series = [...new Set([...groups.keys()].map((key) => key.replace(/ · (input|layer \d+)$/, '')))];
  [...groups.entries()].forEach(([key, points], i) => {
    const colour = colours[series.indexOf(key.replace(/ · (input|layer \d+)$/, '')) % colours.length];
    const dash = / · layer \d+$/.test(key) ? ' stroke-dasharray="6 4"' : '';
    parts.push(
      `<polyline fill="none" stroke="${colour}" stroke-width="2"${dash} points="${points.map((p) => `${x(p.kept)},${y(p.ttftMs.median)}`).join(' ')}"/>`,
    );
    for (const p of points) {
      parts.push(`<line x1="${x(p.kept)}" y1="${y(p.ttftMs.min)}" x2="${x(p.kept)}" y2="${y(p.ttftMs.max)}" stroke="${colour}"/>`);
      parts.push(`<circle cx="${x(p.kept)}" cy="${y(p.ttftMs.median)}" r="3.5" fill="${colour}"/>`);
    }
    parts.push(`<line x1="${width - margin.right + 12}" y1="${margin.top + 20 * i + 6}" x2="${width - margin.right + 28}" y2="${margin.top + 20 * i + 6}" stroke="${colour}" stroke-width="3"${dash}/>`);
    parts.push(`<text x="${width - margin.right + 32}" y="${margin.top + 20 * i + 10}">${key}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}
