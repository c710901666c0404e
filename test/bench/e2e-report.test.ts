import { describe, expect, it } from 'vitest';
import { markdownTable, plotSvg, spread, summarise, type RunSample, type WorkerResult } from '../../bench/e2e-report.js';

function sample(ttftMs: number, decoderPrefillMs: number, selectMs = 0): RunSample {
  return { ttftMs, visionMs: 5, decoderPrefillMs, decodeMsPerToken: 40, selectMs, importanceMs: 10 };
}

function result(budget: number | null, samples: RunSample[], after: number): WorkerResult {
  return {
    task: { preset: 'smolvlm-256m', visualTokens: 576, budget, reps: samples.length, newTokens: 8, threads: null, noSpin: true },
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

  it('draws one line per model and visual-token count', () => {
    const svg = plotSvg(summarise(results));
    expect(svg.match(/<polyline/g)).toHaveLength(1);
    expect(svg.match(/<circle/g)).toHaveLength(2);
    expect(svg).toContain('smolvlm-256m · 576 tokens');
  });
});
