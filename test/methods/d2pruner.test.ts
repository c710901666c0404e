import { describe, expect, it } from 'vitest';
import { resolveGrid, select, type Grid } from '../../src/index.js';
import { seeded, rows } from '../helpers.js';
import { referenceD2Pruner } from './reference-d2pruner.js';
import { setKernelBackend } from '../../src/core/kernels.js';
import { syntheticInput } from '../../src/bench/synthetic.js';
import { D2PRUNER_DEFAULTS } from '../../src/methods/d2pruner.js';

const kept = (s: { keep: Int32Array }) => Array.from(s.keep);
const roles = (s: { roles: Uint8Array }) => Array.from(s.roles);

describe('d2pruner on hand-checked cases', () => {
  it('takes floor(r·n) pivots by score, then MIS tokens that are not similar to an earlier pick', () => {
    const features = rows([1, 0], [1, 0.1], [0, 1], [0.1, 1], [-1, 0], [1, 0.05]);
    const importance = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4];
    const s = select({ features, dims: [6, 2], importance, budget: 4 }, { method: 'd2pruner', pivotRatio: 0.5 });
    // pivots 0, 1; walk R = [2, 3, 4, 5]: 2 chosen, 3 suppressed (cos 0.995 > 0.8), 4 chosen.
    expect(kept(s)).toEqual([0, 1, 2, 4]);
    expect(roles(s)).toEqual([0, 0, 1, 1]);
  });

  it('lets pivots suppress nothing: a token similar to a pivot can still be an MIS pick', () => {
    const features = rows([1, 0], [1, 0.1], [0, 1], [0.1, 1], [-1, 0], [1, 0.05]);
    const importance = [0.9, 0.8, 0.3, 0.2, 0.1, 0.5];
    const s = select({ features, dims: [6, 2], importance, budget: 4 }, { method: 'd2pruner', pivotRatio: 0.5 });
    expect(kept(s)).toEqual([0, 1, 2, 5]);
    expect(roles(s)).toEqual([0, 0, 1, 1]);
  });

  it('keeps the budget even when the graph runs out of candidates (top-up with role fill)', () => {
    const features = rows([1, 0], [1, 0], [1, 0], [1, 0], [1, 0]);
    const s = select({ features, dims: [5, 2], importance: [5, 4, 3, 2, 1], budget: 4 }, { method: 'd2pruner', pivotRatio: 0.5 });
    expect(kept(s)).toEqual([0, 1, 2, 3]);
    expect(roles(s)).toEqual([0, 0, 1, 2]);
  });

  it('treats zero-norm feature rows as dissimilar to everything (cosine 0)', () => {
    const features = new Float32Array(4 * 3);
    const s = select({ features, dims: [4, 3], importance: [1, 2, 3, 4], budget: 3 }, { method: 'd2pruner' });
    expect(kept(s)).toEqual([1, 2, 3]);
    expect(roles(s)).toEqual([1, 0, 0]);
  });

  it('breaks ties in importance by the lower index', () => {
    const features = rows([1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [0, 1, 1]);
    const s = select({ features, dims: [5, 3], importance: [1, 1, 1, 1, 1], budget: 2 }, { method: 'd2pruner', pivotRatio: 0.5 });
    expect(kept(s)).toEqual([0, 1]);
    expect(roles(s)).toEqual([0, 1]);
  });

  it('divides importance by the prior (debiasing) and reports the debiased scores', () => {
    const features = rows([1, 0], [0, 1], [1, 1]);
    const input = { features, dims: [3, 2] as [number, number], importance: [0.2, 0.4, 0.3], prior: [0.1, 0.4, 0.1], budget: 1 };
    const s = select(input, { method: 'd2pruner' });
    expect(kept(s)).toEqual([2]); // scores 2, 1, 3
    expect(roles(s)).toEqual([1]); // n = 1: floor(0.7) = 0 pivots
    expect(Array.from(s.scores!)).toEqual([2, 1, 3].map((x, i) => Math.fround(input.importance[i] / (input.prior[i] + 1e-7))));
    expect(kept(select(input, { method: 'fastv' }))).toEqual([1]); // FastV ignores the prior
  });

  it('returns every index when n = N', () => {
    const g = seeded(3);
    const features = Float32Array.from({ length: 7 * 4 }, g.coarse);
    const s = select({ features, dims: [7, 4], importance: Array.from({ length: 7 }, g.next), budget: 7 }, { method: 'd2pruner' });
    expect(kept(s)).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('uses the spatial window on the grid when alpha < 1', () => {
    const features = Float32Array.from({ length: 81 }, (_, k) => (k % 10 === 0 ? 1 : 0)); // one-hot rows: cosine 0
    const importance = [9, 8, 7, 6, 5, 4, 3, 2, 1];
    const options = { method: 'd2pruner', pivotRatio: 0, alpha: 0.5, threshold: 0.4, spatial: { kind: 'window', radius: 1 } } as const;
    const s = select({ features, dims: [9, 9], importance, budget: 3, grid: { rows: 3, cols: 3 } }, options);
    expect(kept(s)).toEqual([0, 2, 6]);
    // the grid defaults to sqrt(N) x sqrt(N) for a perfect square
    expect(kept(select({ features, dims: [9, 9], importance, budget: 3 }, options))).toEqual([0, 2, 6]);
  });

  it('never links tokens of different tiles, nor tokens without a position', () => {
    const features = Float32Array.from({ length: 81 }, (_, k) => (k % 10 === 0 ? 1 : 0));
    const grid: Grid = { tiles: [{ start: 0, rows: 2, cols: 2 }, { start: 4, rows: 2, cols: 2 }] };
    const s = select(
      { features, dims: [9, 9], importance: [9, 8, 7, 6, 5, 4, 3, 2, 1], budget: 3, grid },
      { method: 'd2pruner', pivotRatio: 0, alpha: 0.5, threshold: 0.4, spatial: { kind: 'window', radius: 1 } },
    );
    expect(kept(s)).toEqual([0, 4, 8]);
  });

  it('uses a gaussian spatial term: 4-neighbours linked, diagonals not, at sigma 1 and threshold 0.25', () => {
    const features = Float32Array.from({ length: 81 }, (_, k) => (k % 10 === 0 ? 1 : 0));
    const s = select(
      { features, dims: [9, 9], importance: [9, 8, 7, 6, 5, 4, 3, 2, 1], budget: 4, grid: { rows: 3, cols: 3 } },
      { method: 'd2pruner', pivotRatio: 0, alpha: 0.5, threshold: 0.25, spatial: { kind: 'gaussian', sigma: 1 } },
    );
    expect(kept(s)).toEqual([0, 2, 4, 6]);
  });

  it('rejects alpha < 1 without a grid when N is not a perfect square', () => {
    expect(() =>
      select({ features: new Float32Array(10), dims: [5, 2], importance: [1, 2, 3, 4, 5], budget: 2 }, { method: 'd2pruner', alpha: 0.5 }),
    ).toThrow(/^grid: .*perfect square/);
  });
});

describe('d2pruner matches the simple float64 reference exactly', () => {
  const spatialKinds = [{ kind: 'window', radius: 1 }, { kind: 'window', radius: 2 }, { kind: 'gaussian', sigma: 1.5 }] as const;
  it('on 300 seeded cases with priors, thresholds, alphas, single grids and tiles', () => {
    for (let seed = 0; seed < 300; seed++) {
      const g = seeded(seed);
      const dim = g.int(1, 8);
      let grid: Grid;
      let tokens: number;
      if (seed % 3 === 2) {
        const tiles = [];
        let start = g.int(0, 2);
        for (let t = g.int(1, 3); t > 0; t--) {
          const tile = { start, rows: g.int(1, 4), cols: g.int(1, 4) };
          tiles.push(tile);
          start += tile.rows * tile.cols + g.int(0, 2);
        }
        tokens = start + g.int(0, 2);
        grid = { tiles };
      } else {
        const rowsCount = g.int(1, 7);
        const cols = g.int(1, 7);
        tokens = rowsCount * cols;
        grid = { rows: rowsCount, cols };
      }
      // Low-dimensional coarse features give many near-duplicates, so the graph has edges.
      const features = Float32Array.from({ length: tokens * dim }, () => (g.next() < 0.1 ? 0 : g.coarse()));
      const importance = Array.from({ length: tokens }, () => Math.round(g.next() * 8) / 8);
      const prior = seed % 2 ? Array.from({ length: tokens }, () => Math.round(g.next() * 4) / 8) : undefined;
      const budget = g.int(1, tokens);
      const options = {
        pivotRatio: [0, 0.5, 0.7, 0.9, 1][g.int(0, 4)],
        threshold: [0.8, 0.5, 0.95, 0][g.int(0, 3)],
        alpha: [1, 0.5, 0.8, 0][g.int(0, 3)],
        spatial: spatialKinds[g.int(0, 2)],
        epsilon: 1e-7,
      };
      const positions = resolveGrid(grid, tokens);
      const ref = referenceD2Pruner({
        features, tokens, dim, importance, prior, budget, ...options,
        positions: { tile: Array.from(positions.tile), row: Array.from(positions.row), col: Array.from(positions.col) },
      });
      // Both kernel paths (the WebAssembly dots are forced even on these small inputs).
      for (const backend of ['wasm', 'js'] as const) {
        const previous = setKernelBackend(backend);
        try {
          const fast = select({ features, dims: [tokens, dim], importance, prior, budget, grid }, { method: 'd2pruner', ...options });
          expect({ seed, backend, keep: kept(fast), roles: roles(fast) }).toEqual({ seed, backend, ...ref });
        } finally {
          setKernelBackend(previous);
        }
      }
    }
  });

  it('on synthetic random and clustered features (400 tokens × 257 dims), on both kernel paths', () => {
    for (const kind of ['random', 'clustered'] as const) {
      const input = syntheticInput({ tokens: 400, dim: 257, budget: 80, seed: 9, kind });
      const ref = referenceD2Pruner({
        features: input.features as Float32Array, tokens: 400, dim: 257, importance: Array.from(input.importance as Float32Array),
        prior: Array.from(input.prior as Float32Array), budget: 80, ...D2PRUNER_DEFAULTS,
      });
      for (const backend of ['wasm', 'js'] as const) {
        const previous = setKernelBackend(backend);
        try {
          const fast = select(input, { method: 'd2pruner' });
          expect({ kind, backend, keep: kept(fast), roles: roles(fast) }).toEqual({ kind, backend, ...ref });
        } finally {
          setKernelBackend(previous);
        }
      }
      expect(ref.roles.filter((r) => r === 1).length).toBeGreaterThan(0); // MIS picks (role 1) happened
    }
  });
});
