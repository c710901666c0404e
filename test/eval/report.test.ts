import { describe, expect, it } from 'vitest';
import { accuracyPlot, markdownTable } from '../../src/eval/report.js';
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
});
