import { describe, expect, it } from 'vitest';
import { accuracyPlot, markdownTable, pairedCounts, pairedTable, standardError } from '../../src/eval/report.js';
import type { Outcome } from '../../src/eval/checkpoint.js';
import type { ResultRow } from '../../src/eval/run.js';

const rows: ResultRow[] = [
  { method: 'none', budget: 'all', task: 'yesno', accuracy: 0.8, n: 10 },
  { method: 'none', budget: 'all', task: 'grounding', accuracy: 0.5, n: 10 },
  { method: 'fastv', budget: 64, task: 'yesno', accuracy: 0.4, n: 10 },
  { method: 'fastv', budget: 64, task: 'grounding', accuracy: 0.5, n: 10 },
  { method: 'fastv', budget: 32, task: 'yesno', accuracy: 0.2, n: 10 },
  { method: 'fastv', budget: 32, task: 'grounding', accuracy: 0.25, n: 10 },
];

describe('eval reports', () => {
  it('tabulates accuracy with retention against the unpruned run and the mean retention', () => {
    const table = markdownTable(rows, [{ method: 'fastv', budget: 64, prefillMs: 12.345 }], 576);
    const lines = table.trim().split('\n');
    expect(lines[0]).toBe('| method | kept | yesno (n=10) | grounding (n=10) | mean retention | prefill ms |');
    expect(lines[2]).toBe('| none | all (576) | 0.800 | 0.500 | 100.0% | – |');
    expect(lines[3]).toBe('| fastv | 64 | 0.400 (50%) | 0.500 (100%) | 75.0% | 12.3 |');
    expect(lines[4]).toBe('| fastv | 32 | 0.200 (25%) | 0.250 (50%) | 37.5% | – |');
  });

  it('plots one panel per task and one line per method', () => {
    const svg = accuracyPlot(rows, 'title <x>');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('title &lt;x&gt;');
    expect(svg.match(/<polyline/g)).toHaveLength(2);
    expect(svg).toContain('>yesno<');
    expect(svg).toContain('>grounding<');
  });

  it('prints a binomial standard error per accuracy on request', () => {
    expect(standardError(0.9, 100)).toBeCloseTo(0.03, 10);
    expect(standardError(1, 50)).toBe(0);
    expect(standardError(0.5, 0)).toBe(0);
    const lines = markdownTable(rows, [], 576, 'prefill ms', { standardErrors: true }).trim().split('\n');
    expect(lines[2]).toBe('| none | all (576) | 0.800 ±0.126 | 0.500 ±0.158 | 100.0% |');
    expect(lines[3]).toBe('| fastv | 64 | 0.400 ±0.155 (50%) | 0.500 ±0.158 (100%) | 75.0% |');
  });

  it('counts the cases one setting answers right and the other wrong, per budget, with an exact sign test', () => {
    const outcome = (label: string, budget: number, right: boolean): Outcome => ({ label, budget, right, ms: 0 });
    // 10 cases: d2pruner right on 0–7, fastv right on 0–3 and 8; both wrong on 9.
    const outcomes = Array.from({ length: 10 }, (_, i) => [outcome('d2pruner', 32, i < 8), outcome('fastv', 32, i < 4 || i === 8)]);
    const [count] = pairedCounts(outcomes, 'd2pruner', ['fastv'], [32, 64]);
    expect(count).toMatchObject({ a: 'd2pruner', b: 'fastv', budget: 32, n: 10, onlyA: 4, onlyB: 1 });
    expect(count!.p).toBeCloseTo((2 * (1 + 5)) / 32, 10); // P(≤ 1 of 5) twice
    expect(pairedCounts(outcomes, 'd2pruner', ['fastv'], [64])).toEqual([]); // no outcomes at 64
    expect(pairedTable([count!]).trim().split('\n')[2]).toBe('| d2pruner vs fastv | 32 | 10 | 4 | 1 | +30.0 pts | 0.375 |');
  });
});
