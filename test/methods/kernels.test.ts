import { describe, expect, it } from 'vitest';
import { setKernelBackend, wasmSimdAvailable, rowDots, rowStats, approxCosines } from '../../src/core/kernels.js';
import { rowDot, rowNorms, cosineRow } from '../../src/core/similarity.js';
import { prepareInput } from '../../src/core/validate.js';
import { syntheticInput } from '../../src/bench/synthetic.js';
import { divprune, divpruneReference } from '../../src/methods/divprune.js';
import { cdpruner, cdprunerReference } from '../../src/methods/cdpruner.js';

function generator(seed: number) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)) };
}

/** Random small cases; half on a coarse lattice, so exact ties and duplicate rows are common. */
function cases(count: number, seed: number) {
  return Array.from({ length: count }, (_, k) => {
    const g = generator(seed + k);
    const tokens = g.int(1, 45);
    const dim = g.int(1, 13);
    const lattice = k % 2 === 0;
    const features = Float32Array.from({ length: tokens * dim }, () => (lattice ? g.int(-2, 2) / 2 : g.next() * 2 - 1));
    if (k % 7 === 3 && tokens > 1) features.fill(0, 0, dim); // a zero row
    const importance = Array.from({ length: tokens }, () => (lattice ? g.int(0, 4) : g.next()));
    return { features, dims: [tokens, dim] as [number, number], importance, budget: g.int(1, tokens) };
  });
}

const backends = ['wasm', 'js'] as const;
const keepOf = (s: { keep: Int32Array }) => Array.from(s.keep);

function withBackend<T>(backend: 'wasm' | 'js', run: () => T): T {
  const previous = setKernelBackend(backend);
  try {
    return run();
  } finally {
    setKernelBackend(previous);
  }
}

describe('kernels', () => {
  it('WebAssembly SIMD is available in Node, so the wasm path below is the one exercised', () => {
    expect(wasmSimdAvailable()).toBe(true);
  });

  it('exact dots equal rowDot bit for bit on both paths, for every dim mod 4', () => {
    for (const dim of [1, 2, 3, 4, 5, 7, 8, 13, 64, 67]) {
      const g = generator(dim);
      const tokens = 9;
      const features = Float32Array.from({ length: tokens * dim }, () => (g.next() - 0.5) * 1e3);
      const list = Int32Array.from({ length: tokens }, (_, j) => j);
      for (const backend of backends) {
        const out = new Float64Array(tokens);
        const dots = withBackend(backend, () => rowDots(features, tokens, dim, tokens));
        expect(dots.backend).toBe(backend);
        expect(Array.from(dots.norms())).toEqual(Array.from(rowNorms(features, tokens, dim)));
        for (let p = 0; p < tokens; p++) {
          dots.dots(p, list, tokens, out);
          expect(Array.from(out)).toEqual(Array.from(list, (j) => rowDot(features, dim, p, j)));
        }
      }
    }
  });

  it('approximate cosines stay within the stated bound of the float64 cosines', () => {
    const input = syntheticInput({ tokens: 37, dim: 301, budget: 5, seed: 3, kind: 'clustered' });
    const features = input.features as Float32Array;
    const norms = rowNorms(features, 37, 301);
    const approx = withBackend('wasm', () => approxCosines(features, 37, 301, norms))!;
    expect(approx.bound).toBeLessThan(1e-4);
    const row = new Float64Array(37);
    const exact = new Float64Array(37);
    let worst = 0;
    for (let p = 0; p < 37; p++) {
      approx.row(p, row);
      cosineRow(features, 37, 301, norms, p, exact);
      for (let j = 0; j < 37; j++) worst = Math.max(worst, Math.abs(row[j] - exact[j]));
    }
    expect(worst).toBeLessThanOrEqual(approx.bound);
  });
});

describe('rowStats and the session norms', () => {
  it('sums of squares equal rowDot(i, i), and dots with a float64 query agree bit for bit on both paths', () => {
    for (const dim of [1, 2, 3, 4, 5, 7, 8, 13, 64, 67]) {
      const g = generator(100 + dim);
      const tokens = 11;
      const features = Float32Array.from({ length: tokens * dim }, () => (g.next() - 0.5) * 1e3);
      features.fill(0, 0, dim); // a zero row
      const query = Float64Array.from({ length: dim }, () => g.next() - 0.4);
      const results = backends.map((backend) => withBackend(backend, () => rowStats(features, tokens, dim, query)));
      for (let i = 0; i < tokens; i++) expect(results[0]!.sumSquares[i]).toBe(rowDot(features, dim, i, i));
      expect(Array.from(results[0]!.sumSquares)).toEqual(Array.from(results[1]!.sumSquares));
      expect(Array.from(results[0]!.dots!)).toEqual(Array.from(results[1]!.dots!));
      // The dot with the query is the plain sum up to rounding.
      const plain = Array.from({ length: tokens }, (_, i) => query.reduce((s, q, k) => s + q * features[i * dim + k]!, 0));
      for (let i = 0; i < tokens; i++) expect(Math.abs(results[0]!.dots![i]! - plain[i]!)).toBeLessThanOrEqual(1e-9 * (1 + Math.abs(plain[i]!)));
      for (const backend of backends) {
        const plainSquares = withBackend(backend, () => rowStats(features, tokens, dim, null));
        expect(plainSquares.dots).toBeNull();
        expect(Array.from(plainSquares.sumSquares)).toEqual(Array.from(results[0]!.sumSquares));
      }
      // A session's norms (one kernel call) are rowNorms exactly.
      const session = withBackend('wasm', () => rowDots(features, tokens, dim, tokens));
      expect(Array.from(session.norms())).toEqual(Array.from(rowNorms(features, tokens, dim)));
    }
  });
});

describe('divprune (fast path) keeps exactly what the direct form keeps', () => {
  it('on 200 small cases with ties, zero rows and N not a multiple of 4 or 16, on both paths', () => {
    for (const [k, input] of cases(200, 1000).entries()) {
      const prepared = prepareInput(input, { importance: false, grid: false }, 'divprune');
      const expected = keepOf(divpruneReference(prepared));
      for (const backend of backends) {
        expect({ k, backend, keep: keepOf(withBackend(backend, () => divprune.run(prepared, {}))) }).toEqual({ k, backend, keep: expected });
      }
    }
  });

  it('on synthetic random and clustered features (300 tokens × 257 dims, budget 40)', () => {
    for (const kind of ['random', 'clustered'] as const) {
      const prepared = prepareInput(syntheticInput({ tokens: 300, dim: 257, budget: 40, seed: 5, kind }), { importance: false, grid: false }, 'divprune');
      const expected = keepOf(divpruneReference(prepared));
      for (const backend of backends) expect({ kind, backend, keep: keepOf(withBackend(backend, () => divprune.run(prepared, {}))) }).toEqual({ kind, backend, keep: expected });
    }
  });
});

describe('cdpruner (lazy form) keeps exactly what the direct form keeps', () => {
  it('on 200 small cases, with and without theta: same keep, roles and scores, on both paths', () => {
    for (const [k, input] of cases(200, 5000).entries()) {
      const prepared = prepareInput(input, { importance: true, grid: false }, 'cdpruner');
      for (const theta of [undefined, 0.5, 0.9]) {
        const expected = cdprunerReference(prepared, { theta });
        for (const backend of backends) {
          const got = withBackend(backend, () => cdpruner.run(prepared, { theta }));
          expect({ k, theta, backend, keep: keepOf(got), roles: Array.from(got.roles) }).toEqual({ k, theta, backend, keep: keepOf(expected), roles: Array.from(expected.roles) });
          expect(Array.from(got.scores!)).toEqual(Array.from(expected.scores!));
        }
      }
    }
  });

  it('on synthetic random and clustered features (300 tokens × 257 dims, budget 60)', () => {
    for (const kind of ['random', 'clustered'] as const) {
      const prepared = prepareInput(syntheticInput({ tokens: 300, dim: 257, budget: 60, seed: 6, kind }), { importance: true, grid: false }, 'cdpruner');
      const expected = keepOf(cdprunerReference(prepared, { theta: undefined }));
      for (const backend of backends) expect({ kind, backend, keep: keepOf(withBackend(backend, () => cdpruner.run(prepared, { theta: undefined }))) }).toEqual({ kind, backend, keep: expected });
    }
  });
});
