import { describe, expect, it } from 'vitest';
import { markdownTable, overheadTable, plotSvg, spread, summarise, type RunSample, type WorkerResult } from '../../bench/e2e-report.js';

function sample(ttftMs: number, decoderPrefillMs: number, selectMs = 0): RunSample {
  return { ttftMs, visionMs: 5, decoderPrefillMs, decodeMsPerToken: 40, selectMs, importanceMs: 10 };
}

function layerSample(ttftMs: number, prefixMs: number, suffixMs: number): RunSample {
  const overheadMs = ttftMs - 5 - prefixMs - suffixMs;
  return {
    ttftMs, visionMs: 5, decoderPrefillMs: prefixMs + suffixMs, prefixMs, decodeMsPerToken: 40, selectMs: 3, importanceMs: prefixMs + 1,
    overheadMs, overheadImportanceMs: 1, gatherMs: 2, embedMs: 4, otherMs: overheadMs - 10,
  };
}

function result(budget: number | null, samples: RunSample[], after: number, layer = 0): WorkerResult {
  return {
    task: { preset: 'smolvlm-256m', visualTokens: 576, budget, layer, reps: samples.length, newTokens: 8, threads: null, noSpin: true },
    promptTokens: 604,
    visualBefore: 576,
    visualAfter: after,
    prefillSequence: 604 - 576 + after,
    loadMs: 1000,
    rssAfterLoadMb: 800,
    peakRssMb: budget === null ? 1100 : 900,
    samples,
  };
}

const results = [
  result(null, [sample(2000, 1900), sample(2200, 2100), sample(1800, 1700)], 576),
  result(64, [sample(400, 250, 4), sample(500, 300, 6), sample(300, 200, 2)], 64),
];

describe('bench:e2e report', () => {
  it('summarises repetitions as median with min and max (even counts average the middle pair)', () => {
    expect(spread([3, 1, 2])).toEqual({ median: 2, min: 1, max: 3 });
    expect(spread([4, 1, 3, 2])).toEqual({ median: 2.5, min: 1, max: 4 });
  });

  it('computes speedups against the unpruned run of the same model and token count, and the selection share', () => {
    const [none, pruned] = summarise(results);
    expect(none!.method).toBe('none');
    expect(none!.ttftSpeedup).toBe(1);
    expect(pruned!.kept).toBe(64);
    expect(pruned!.prefillSequence).toBe(92);
    expect(pruned!.ttftSpeedup).toBeCloseTo(2000 / 400);
    expect(pruned!.prefillSpeedup).toBeCloseTo(1900 / 250);
    expect(pruned!.selectShareOfTtft).toBeCloseTo(4 / 400);
  });

  it('prints one table row per configuration with the spread and the selection percentage', () => {
    const table = markdownTable(summarise(results)).split('\n');
    expect(table).toHaveLength(4);
    expect(table[2]).toContain('| 576 (none) |');
    expect(table[2]).toContain('2000 (1800–2200)');
    expect(table[3]).toContain('5.00×');
    expect(table[3]).toContain('| 1.00% |');
  });

  it('draws one line per model, visual-token count and pruning mode, each from the unpruned point', () => {
    const svg = plotSvg(summarise(results));
    expect(svg.match(/<polyline/g)).toHaveLength(1);
    expect(svg.match(/<circle/g)).toHaveLength(2);
    expect(svg).toContain('smolvlm-256m · 576 · input');
    const both = plotSvg(summarise([...results, result(64, [layerSample(600, 150, 300)], 64, 2)]));
    expect(both.match(/<polyline/g)).toHaveLength(2);
    expect(both).toContain('smolvlm-256m · 576 · layer 2');
  });

  it('gives layer-K rows the prefix share of their decoder prefill and speedups against the same unpruned run', () => {
    const rows = summarise([...results, result(64, [layerSample(600, 150, 300), layerSample(700, 250, 300), layerSample(500, 50, 300)], 64, 2)]);
    const layer = rows[2]!;
    expect(layer.layer).toBe(2);
    expect(layer.prefillSpeedup).toBeCloseTo(1900 / 450);
    expect(layer.prefixShare).toBeCloseTo(150 / 450);
    expect(rows[1]!.layer).toBe(0);
    expect(rows[1]!.prefixShare).toBeNaN();
    const table = markdownTable(rows).split('\n');
    expect(table[3]).toContain('| input |');
    expect(table[4]).toContain('| layer 2 |');
    expect(table[4]).toContain('| 150 (33%) |');
  });

  it('prints the overhead (TTFT − vision − decoder sessions) with its parts; results without them show dashes', () => {
    const rows = summarise([...results, result(64, [layerSample(600, 150, 300)], 64, 2)]);
    const table = overheadTable(rows).split('\n');
    expect(table).toHaveLength(5);
    expect(table[4]).toContain('| 600 | 5 | 450 | 145 (24.2%) | 1.0 | 3.0 | 2.0 | 4.0 | 135.0 |');
    expect(table[3]).toContain('| – (–%) |');
  });
});
