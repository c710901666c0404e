import { describe, expect, it } from 'vitest';
import { methodNames, resolveBudget, select, ValidationError, type SelectOptions } from '../../src/index.js';
import { rowNorms } from '../../src/core/similarity.js';
import { prepareInput } from '../../src/core/validate.js';

const base = () => ({
  features: new Float32Array([1, 0, 0, 1, 1, 1, 0, 0]),
  dims: [4, 2] as [number, number],
  importance: [0.4, 0.3, 0.2, 0.1],
  budget: 2,
});

function errorOf(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return error as ValidationError;
  }
  throw new Error('expected a ValidationError');
}

describe('budget', () => {
  it('accepts integers in [1, N] and fractions in (0, 1) meaning max(1, round(f·N))', () => {
    expect(resolveBudget(1, 576)).toBe(1);
    expect(resolveBudget(576, 576)).toBe(576);
    expect(resolveBudget(0.25, 576)).toBe(144);
    expect(resolveBudget(0.001, 576)).toBe(1);
    expect(resolveBudget(0.5, 3)).toBe(2); // round half up
  });
  it.each([0, -1, 2.5, 577, 1.5, Number.NaN, Infinity, '64', null, undefined])('rejects %s naming the field', (bad) => {
    const error = errorOf(() => resolveBudget(bad, 576));
    expect(error.field).toBe('budget');
    expect(error.message).toMatch(/^budget: /);
  });
});

describe('input validation names the field and the value', () => {
  const cases: [string, (input: ReturnType<typeof base>) => unknown, string, RegExp?][] = [
    ['features too short', (i) => ({ ...i, features: new Float32Array(7) }), 'features', /length 8/],
    ['NaN feature', (i) => ({ ...i, features: new Float32Array([1, 0, NaN, 1, 1, 1, 0, 0]) }), 'features[2]', /NaN/],
    ['Infinity importance', (i) => ({ ...i, importance: [0.4, Infinity, 0.2, 0.1] }), 'importance[1]', /Infinity/],
    ['string importance', (i) => ({ ...i, importance: [0.4, '0.3', 0.2, 0.1] }), 'importance[1]'],
    ['importance wrong length', (i) => ({ ...i, importance: [0.4, 0.3] }), 'importance', /length 4/],
    ['negative importance with a prior', (i) => ({ ...i, importance: [0.4, -0.3, 0.2, 0.1], prior: [1, 1, 1, 1] }), 'importance[1]', /-0.3/],
    ['negative prior', (i) => ({ ...i, prior: [1, 1, -2, 1] }), 'prior[2]'],
    ['prior wrong length', (i) => ({ ...i, prior: [1, 1, 1] }), 'prior'],
    ['bad dims', (i) => ({ ...i, dims: [4.5, 2] }), 'dims[0]'],
    ['budget 0', (i) => ({ ...i, budget: 0 }), 'budget', /got 0/],
    ['budget N + 1', (i) => ({ ...i, budget: 5 }), 'budget', /got 5/],
    ['grid larger than N', (i) => ({ ...i, grid: { rows: 3, cols: 2 } }), 'grid'],
    ['tile outside [0, N)', (i) => ({ ...i, grid: { tiles: [{ start: 2, rows: 1, cols: 3 }] } }), 'grid.tiles[0]'],
    ['overlapping tiles', (i) => ({ ...i, grid: { tiles: [{ start: 0, rows: 1, cols: 2 }, { start: 1, rows: 1, cols: 2 }] } }), 'grid.tiles[1]', /overlaps/],
    ['bad tile rows', (i) => ({ ...i, grid: { tiles: [{ start: 0, rows: 0, cols: 2 }] } }), 'grid.tiles[0].rows'],
    // 1e39 is a finite double but Infinity as float32: checked after the conversion the methods read.
    ['feature that overflows float32', (i) => ({ ...i, features: [1, 0, 0, 1, 1e39, 1, 0, 0] }), 'features[4]', /overflows float32.*got 1e\+39/],
    ['Float64Array feature that overflows float32', (i) => ({ ...i, features: Float64Array.from([1, 0, 0, 1, 1, 1, 0, -4e38]) }), 'features[7]', /overflows float32/],
    ['importance that overflows float32', (i) => ({ ...i, importance: [0.4, 0.3, 1e39, 0.1] }), 'importance[2]', /overflows float32/],
    ['prior that overflows float32', (i) => ({ ...i, prior: [1, 1e39, 1, 1] }), 'prior[1]', /overflows float32/],
  ];
  it.each(cases)('%s', (_, mutate, field, pattern) => {
    const error = errorOf(() => select(mutate(base()) as never, { method: 'd2pruner' }));
    expect(error.field).toBe(field);
    expect(error.message.startsWith(`${field}: `)).toBe(true);
    if (pattern) expect(error.message).toMatch(pattern);
  });

  // Methods that compare by cosine get the row norms from the validation pass, which is then their
  // finiteness check; the others keep the bit scan. Both must name the first bad value.
  it.each(methodNames)('%s: the first non-finite feature is named, in any row, as float32 or plain numbers', (method) => {
    for (const [bad, index] of [[Number.NaN, 7], [-Infinity, 4], [Infinity, 0]] as const) {
      const values = [1, 0, 0, 1, 1, 1, 0, 0.5];
      values[index] = bad;
      values[7] = index === 7 ? bad : Number.NaN; // a second bad value after the first: the first is named
      if (index === 7) values[6] = 0;
      for (const features of [Float32Array.from(values), values]) {
        const input = { ...base(), features, budget: 2 };
        const error = errorOf(() => select(input as never, { method } as never));
        expect(error.field).toBe(`features[${index}]`);
      }
    }
  });

  it('hands cosine methods the exact row norms (rowNorms) from validation', () => {
    const features = Float32Array.from({ length: 5 * 7 }, (_, k) => Math.sin(k) * (k % 5));
    const input = { features, dims: [5, 7] as [number, number], budget: 2 };
    const prepared = prepareInput(input, { importance: false, grid: false, norms: true }, 'test');
    expect(Array.from(prepared.norms!)).toEqual(Array.from(rowNorms(features, 5, 7)));
    expect(prepareInput(input, { importance: false, grid: false }, 'test').norms).toBeNull();
  });

  it('rejects an unknown method, listing the known ones', () => {
    const error = errorOf(() => select(base(), { method: 'fastvv' } as unknown as SelectOptions));
    expect(error.field).toBe('method');
    expect(error.message).toBe('method: must be one of d2pruner, random, uniform, fastv, divprune, dart, cdpruner, visionzip (got "fastvv")');
  });
  it('rejects unknown option keys and out-of-range options', () => {
    expect(errorOf(() => select(base(), { method: 'd2pruner', pivot_ratio: 0.5 } as never)).field).toBe('options.pivot_ratio');
    expect(errorOf(() => select(base(), { method: 'fastv', seed: 1 } as never)).message).toMatch(/takes no options/);
    expect(errorOf(() => select(base(), { method: 'd2pruner', pivotRatio: 1.5 })).field).toBe('options.pivotRatio');
    expect(errorOf(() => select(base(), { method: 'd2pruner', alpha: -0.1 })).field).toBe('options.alpha');
    expect(errorOf(() => select(base(), { method: 'd2pruner', spatial: { kind: 'disk' } } as never)).field).toBe('options.spatial');
    expect(errorOf(() => select(base(), { method: 'd2pruner', spatial: { kind: 'gaussian', sigma: 0 } })).field).toBe('options.spatial.sigma');
    expect(errorOf(() => select(base(), { method: 'dart', pivots: 0 })).field).toBe('options.pivots');
    expect(errorOf(() => select(base(), { method: 'cdpruner', theta: 1 })).field).toBe('options.theta');
    expect(errorOf(() => select(base(), { method: 'random', seed: -1 })).field).toBe('options.seed');
  });
  it('requires importance for importance-based methods only', () => {
    const { importance: _, ...noImportance } = base();
    for (const method of ['d2pruner', 'fastv', 'cdpruner', 'visionzip'] as const) {
      expect(errorOf(() => select(noImportance, { method })).field).toBe('importance');
    }
    for (const method of ['random', 'uniform', 'divprune', 'dart'] as const) {
      expect(select(noImportance, { method }).keep.length).toBe(2);
    }
  });
  it('allows negative importance when no prior is given', () => {
    expect(Array.from(select({ ...base(), importance: [-1, -2, 3, 0] }, { method: 'fastv' }).keep)).toEqual([2, 3]);
  });
  it('defaults to d2pruner when no method is given', () => {
    expect(select(base())).toEqual(select(base(), { method: 'd2pruner' }));
  });
});
