import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { methodNames, select, type SelectOptions } from '../../src/index.js';
import { spatialSimilarity } from '../../src/methods/d2pruner.js';
import { resolveGrid } from '../../src/core/validate.js';

const lattice = fc.integer({ min: -4, max: 4 }).map((x) => x / 4);

/** A random selection problem: features on a coarse lattice (ties, duplicates, zero rows), a square-or-not grid. */
const problem = fc
  .record({ rows: fc.integer({ min: 1, max: 6 }), cols: fc.integer({ min: 1, max: 6 }), dim: fc.integer({ min: 1, max: 5 }) })
  .chain(({ rows, cols, dim }) => {
    const tokens = rows * cols;
    return fc.record({
      tokens: fc.constant(tokens),
      dim: fc.constant(dim),
      grid: fc.constant({ rows, cols }),
      features: fc.array(lattice, { minLength: tokens * dim, maxLength: tokens * dim }),
      importance: fc.array(fc.integer({ min: 0, max: 8 }).map((x) => x / 8), { minLength: tokens, maxLength: tokens }),
      prior: fc.option(fc.array(fc.integer({ min: 0, max: 8 }).map((x) => x / 8), { minLength: tokens, maxLength: tokens }), { nil: undefined }),
      budget: fc.integer({ min: 1, max: tokens }),
    });
  });

const d2Options = fc.record({
  pivotRatio: fc.constantFrom(0, 0.3, 0.5, 0.7, 1),
  threshold: fc.constantFrom(-1, 0, 0.5, 0.8, 1),
  alpha: fc.constantFrom(0, 0.5, 1),
  spatial: fc.constantFrom({ kind: 'window' as const, radius: 1 }, { kind: 'gaussian' as const, sigma: 1 }),
});

describe.each(methodNames)('%s: properties', (method) => {
  it('keeps exactly the budget, sorted, unique, in range; deterministic; inputs unchanged', () => {
    fc.assert(
      fc.property(problem, (p) => {
        const features = Float32Array.from(p.features);
        const importance = Float64Array.from(p.importance);
        const prior = p.prior && Float32Array.from(p.prior);
        const input = { features, dims: [p.tokens, p.dim] as [number, number], importance, prior, grid: p.grid, budget: p.budget };
        const snapshot = structuredClone({ features, importance, prior, grid: p.grid });
        const a = select(input, { method } as SelectOptions);
        const b = select(input, { method } as SelectOptions);
        expect(a.keep.length).toBe(p.budget);
        expect(a.roles.length).toBe(p.budget);
        for (let k = 1; k < a.keep.length; k++) expect(a.keep[k]).toBeGreaterThan(a.keep[k - 1]);
        expect(a.keep[0]).toBeGreaterThanOrEqual(0);
        expect(a.keep[a.keep.length - 1]).toBeLessThan(p.tokens);
        expect(b).toEqual(a);
        expect({ features, importance, prior, grid: p.grid }).toEqual(snapshot);
        if (a.features) expect(a.features.length).toBe(p.budget * p.dim);
      }),
      { numRuns: 150, seed: 42 },
    );
  });
});

describe('d2pruner: properties', () => {
  it('pivots are exactly the top floor(r·n) by debiased score, and no two MIS picks are linked', () => {
    fc.assert(
      fc.property(problem, d2Options, (p, options) => {
        const input = { features: Float32Array.from(p.features), dims: [p.tokens, p.dim] as [number, number], importance: p.importance, prior: p.prior, grid: p.grid, budget: p.budget };
        const s = select(input, { method: 'd2pruner', ...options });
        const score = (i: number) => (p.prior ? p.importance[i] / (p.prior[i] + 1e-7) : p.importance[i]);
        const order = [...Array(p.tokens).keys()].sort((x, y) => score(y) - score(x) || x - y);
        const pivots = Array.from(s.keep).filter((_, k) => s.roles[k] === 0);
        expect(pivots).toEqual(order.slice(0, Math.floor(options.pivotRatio * p.budget)).sort((x, y) => x - y));

        const mis = Array.from(s.keep).filter((_, k) => s.roles[k] === 1);
        const spatial = spatialSimilarity(options.spatial, resolveGrid(p.grid, p.tokens));
        const f = input.features;
        const cosine = (i: number, j: number) => {
          let dot = 0, ni = 0, nj = 0;
          for (let d = 0; d < p.dim; d++) {
            dot += f[i * p.dim + d] * f[j * p.dim + d];
            ni += f[i * p.dim + d] ** 2;
            nj += f[j * p.dim + d] ** 2;
          }
          return ni * nj === 0 ? 0 : dot / Math.sqrt(ni * nj);
        };
        for (const i of mis) {
          for (const j of mis) {
            if (i >= j) continue;
            const fused = options.alpha < 1 ? options.alpha * cosine(i, j) + (1 - options.alpha) * spatial(i, j) : cosine(i, j);
            expect(fused).toBeLessThanOrEqual(options.threshold + 1e-12);
          }
        }
      }),
      { numRuns: 300, seed: 7 },
    );
  });
});
