import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeFloatArray } from '../../src/io/case-file.js';
import { runCli } from './run-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'd2pruner-cli-'));
const goodCase = {
  tokens: 6,
  dim: 2,
  features: [1, 0, 1, 0.1, 0, 1, 0.1, 1, -1, 0, 1, 0.05],
  importance: [0.9, 0.8, 0.7, 0.6, 0.5, 0.4],
  budget: 4,
  method: 'd2pruner',
  options: { pivotRatio: 0.5 },
};
function caseFile(name: string, content: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

describe('d2pruner select', () => {
  it('prints {method, keep, roles} for a plain-JSON case file', () => {
    const { code, stdout, stderr } = runCli(['select', caseFile('good.json', goodCase)]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual({ method: 'd2pruner', keep: [0, 1, 2, 4], roles: [0, 0, 1, 1] });
  });

  it('prints the merged features of a merging method as base64 float32 (n×D)', () => {
    // visionzip, n = 4: dominant = round(54/64·4) = 3 (tokens 0, 1, 2), rest = 3..5, one target (3);
    // tokens 4 and 5 join it: [0.1, 1] + mean([-1, 0], [1, 0.05]) = [0.1, 1.025].
    const { code, stdout, stderr } = runCli(['select', caseFile('vz.json', { ...goodCase, method: 'visionzip', options: {} })]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const out = JSON.parse(stdout);
    expect(out.keep).toEqual([0, 1, 2, 3]);
    expect(out.features.dtype).toBe('float32');
    const bytes = Buffer.from(out.features.base64, 'base64');
    const merged = Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4));
    expect(merged).toHaveLength(8);
    expect(merged.slice(0, 6)).toEqual(Array.from(Float32Array.from([1, 0, 1, 0.1, 0, 1])));
    expect(merged[6]).toBeCloseTo(0.1, 6);
    expect(merged[7]).toBeCloseTo(1.025, 6);
    // Methods that do not merge print no features.
    expect(JSON.parse(runCli(['select', caseFile('good2.json', goodCase)]).stdout).features).toBeUndefined();
  });

  it('reads base64 float32 arrays and standard input', () => {
    const encoded = { ...goodCase, features: encodeFloatArray(goodCase.features), importance: encodeFloatArray(goodCase.importance) };
    const { code, stdout } = runCli(['select', '-'], JSON.stringify(encoded));
    expect(code).toBe(0);
    expect(JSON.parse(stdout).keep).toEqual([0, 1, 2, 4]);
  });

  const bad: [string, unknown, RegExp][] = [
    ['malformed JSON', '{"tokens": 6,', /^case: .*not valid JSON/],
    ['wrong features length', { ...goodCase, features: [1, 2, 3] }, /^features: must have length 12 \(got array of length 3\)/],
    ['a non-number in importance', { ...goodCase, importance: [0.9, 'NaN', 0.7, 0.6, 0.5, 0.4] }, /^importance\[1\]: must be a number \(got "NaN"\)/],
    ['negative importance with a prior', { ...goodCase, importance: [0.9, -0.8, 0.7, 0.6, 0.5, 0.4], prior: [1, 1, 1, 1, 1, 1] }, /^importance\[1\]: .*-0.8/],
    ['a bad budget', { ...goodCase, budget: 2.5 }, /^budget: .*got 2.5/],
    ['budget above N', { ...goodCase, budget: 7 }, /^budget: .*got 7/],
    ['an unknown method', { ...goodCase, method: 'sparsevlm' }, /^method: .*got "sparsevlm"/],
    ['an unknown option', { ...goodCase, options: { radius: 2 } }, /^options.radius: is not an option/],
    ['an option out of range', { ...goodCase, options: { threshold: 3 } }, /^options.threshold: .*got 3/],
    ['overlapping tiles', { ...goodCase, grid: { tiles: [{ start: 0, rows: 1, cols: 3 }, { start: 2, rows: 1, cols: 2 }] } }, /^grid.tiles\[1\]: overlaps/],
    ['a tile out of range', { ...goodCase, grid: { tiles: [{ start: 4, rows: 1, cols: 3 }] } }, /^grid.tiles\[0\]: covers tokens \[4, 7\)/],
    ['a missing grid that is needed', { ...goodCase, options: { alpha: 0.5 } }, /^grid: is required/],
    ['bad base64', { ...goodCase, features: { dtype: 'float32', base64: '@@@@' } }, /^features.base64: /],
    ['a bad dtype', { ...goodCase, features: { dtype: 'float64', base64: 'AAAAAAAAAAA=' } }, /^features.dtype: must be "float32" \(got "float64"\)/],
    ['an unknown field', { ...goodCase, budgett: 3 }, /^budgett: is not a case-file field/],
  ];
  it.each(bad)('rejects %s with exit 2 and one line naming the field', (_, content, pattern) => {
    const { code, stdout, stderr } = runCli(['select', caseFile('bad.json', content)]);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr.endsWith('\n')).toBe(true);
    expect(stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(stderr.replace(/^d2pruner: /, '')).toMatch(pattern);
  });

  it('rejects a missing case file with exit 2', () => {
    const { code, stderr } = runCli(['select', join(dir, 'nope.json')]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/^d2pruner: case file ".*nope.json" cannot be read \(ENOENT\)\n$/);
  });
});

describe('d2pruner bench select', () => {
  it('prints a JSON summary as its last line with --json', () => {
    const { code, stdout } = runCli(['bench', 'select', '--tokens', '64', '--dim', '16', '--budget', '8', '--method', 'divprune', '--runs', '3', '--json']);
    expect(code).toBe(0);
    const summary = JSON.parse(stdout.trim().split('\n').at(-1)!);
    expect(summary).toMatchObject({ runs: 3, method: 'divprune', kept: 8 });
    expect(summary.min_ms).toBeLessThanOrEqual(summary.median_ms);
    expect(summary.median_ms).toBeLessThanOrEqual(summary.max_ms);
  });
  it('rejects bad flags with exit 2 and one line', () => {
    for (const args of [['--tokens', 'x', '--dim', '4', '--budget', '2'], ['--tokens', '8', '--dim', '4', '--budget', '9'], ['--tokens', '8', '--dim', '4', '--budget', '2', '--method', 'nope']]) {
      const { code, stdout, stderr } = runCli(['bench', 'select', ...args]);
      expect(code).toBe(2);
      expect(stdout).toBe('');
      expect(stderr.trimEnd().split('\n')).toHaveLength(1);
    }
  });
});

describe('d2pruner --help', () => {
  it('lists the commands and exits 0', () => {
    const { code, stdout } = runCli(['--help']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/select/);
    expect(stdout).toMatch(/bench/);
  });
  it('rejects an unknown command with exit 2 and one line', () => {
    const { code, stderr } = runCli(['frobnicate']);
    expect(code).toBe(2);
    expect(stderr.trimEnd().split('\n')).toHaveLength(1);
  });
});
