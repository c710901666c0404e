import { ValidationError } from '../core/errors.js';
import { numberIn, type OptionCheck } from '../core/options.js';
import { orderByDescending } from '../core/order.js';
import { DROPPED, selectionFromRoles } from '../core/result.js';
import { rowDots } from '../core/kernels.js';
import { Role, type PreparedInput, type Selection, type TokenPositions } from '../core/types.js';
import type { MethodDefinition } from './method.js';

/** Spatial term of D2Pruner's hybrid graph. */
export type SpatialKernel =
  /** 1 when two tokens lie in the same tile within Chebyshev distance `radius`, else 0. */
  | { kind: 'window'; radius: number }
  /** exp(−(Δrow² + Δcol²) / (2σ²)) in the same tile, else 0. */
  | { kind: 'gaussian'; sigma: number };

export interface D2PrunerOptions {
  /** Share of the budget taken as pivots, r: floor(r·n) pivots. Default 0.7. */
  pivotRatio: number;
  /** Edge threshold θ on the fused similarity (strict >). Default 0.8. */
  threshold: number;
  /** Semantic weight α in S = α·cosine + (1 − α)·spatial. Default 1.0 (the paper uses 0.5 for grounding). */
  alpha: number;
  /** Spatial term. Default `{ kind: 'window', radius: 2 }`. Used only when alpha < 1. */
  spatial: SpatialKernel;
  /** ε in s = a / (p + ε). Default 1e-7. */
  epsilon: number;
}

/** D2Pruner's defaults (ALGORITHM.md). */
export const D2PRUNER_DEFAULTS: Readonly<D2PrunerOptions> = Object.freeze({
  pivotRatio: 0.7,
  threshold: 0.8,
  alpha: 1.0,
  spatial: Object.freeze({ kind: 'window', radius: 2 }) as SpatialKernel,
  epsilon: 1e-7,
});

const spatialCheck: OptionCheck<SpatialKernel> = (value, field) => {
  const kernel = value as Partial<SpatialKernel> | null;
  if (kernel && typeof kernel === 'object' && kernel.kind === 'window') {
    const radius = numberIn({ min: 0, integer: true })((kernel as { radius?: unknown }).radius ?? 2, `${field}.radius`);
    return { kind: 'window', radius };
  }
  if (kernel && typeof kernel === 'object' && kernel.kind === 'gaussian') {
    const sigma = numberIn({ min: 0, max: Infinity, exclusive: true })((kernel as { sigma?: unknown }).sigma, `${field}.sigma`);
    return { kind: 'gaussian', sigma };
  }
  throw new ValidationError(field, value, 'must be { kind: "window", radius } or { kind: "gaussian", sigma }');
};

/**
 * Debiased importance with positional-prior division, pivots, then a greedy maximal independent set on a
 * hybrid semantic + spatial graph (ALGORITHM.md, "D2Pruner").
 *
 * The walk is computed lazily in its "pull" form: a candidate is available exactly when no token chosen
 * before it has a fused similarity above θ with it, so each candidate is compared only with the tokens
 * chosen so far (stopping at the first edge). This touches O(examined · chosen · D) numbers instead of the
 * O(N²·D) of a full similarity matrix and gives the same result as suppressing neighbours eagerly. The dot
 * products come from the exact kernel of kernels.ts (WebAssembly SIMD where available, bit for bit rowDot of
 * similarity.ts, so both paths keep the same tokens), and the row norms from validation, whose norm pass is
 * also its finiteness check: the features are read once before the walk.
 */
function runD2Pruner(input: PreparedInput, options: D2PrunerOptions): Selection {
  const { tokens, budget, importance, prior, features, dim, positions } = input;
  const { pivotRatio, threshold, alpha, spatial, epsilon } = options;

  const scores = new Float64Array(tokens);
  for (let i = 0; i < tokens; i++) scores[i] = prior ? importance![i] / (prior[i] + epsilon) : importance![i];
  const order = orderByDescending(scores);

  const tokenRoles = new Uint8Array(tokens).fill(DROPPED);
  const pivotCount = Math.floor(pivotRatio * budget);
  for (let k = 0; k < pivotCount; k++) tokenRoles[order[k]] = Role.pivot;

  const target = budget - pivotCount;
  // Exact dot products (the WebAssembly SIMD kernel where available, bit for bit rowDot) and row norms,
  // both from validation: its norm pass is also the finiteness check.
  const dots = input.dots ?? rowDots(features, tokens, dim, tokens);
  const norms = input.norms ?? dots.norms();
  const products = new Float64Array(Math.max(target, 1));
  const spatialTerm = alpha < 1 ? spatialSimilarity(spatial, positions!) : null;
  // `recent` lists the chosen tokens, most recent suppressor first: neighbours in the order tend to be
  // suppressed by the same token, so the first comparison usually settles it. The order of comparisons
  // does not change the result (a candidate is available iff no chosen token has an edge to it).
  const recent = new Int32Array(target);
  let chosenCount = 0;
  for (let r = pivotCount; r < tokens && chosenCount < target; r++) {
    const j = order[r];
    let suppressor = -1;
    // The chosen tokens in chunks of 1, 2, 4, … 32, in `recent` order: the first comparison usually settles
    // a suppressed candidate, and an independent one needs them all, a chunk per kernel call.
    for (let c = 0, chunk = 1; c < chosenCount && suppressor < 0; c += chunk, chunk = Math.min(2 * chunk, 32)) {
      const count = Math.min(chunk, chosenCount - c);
      dots.dots(j, recent.subarray(c, c + count), count, products);
      for (let k = 0; k < count; k++) {
        const i = recent[c + k];
        const denominator = norms[i] * norms[j];
        const cosine = denominator === 0 ? 0 : products[k] / denominator;
        const fused = spatialTerm ? alpha * cosine + (1 - alpha) * spatialTerm(i, j) : cosine;
        if (fused > threshold) {
          suppressor = c + k;
          break;
        }
      }
    }
    if (suppressor === -1) {
      recent[chosenCount++] = j;
      tokenRoles[j] = Role.mis;
    } else if (suppressor > 0) {
      const i = recent[suppressor];
      recent.copyWithin(1, 0, suppressor);
      recent[0] = i;
    }
  }
  // Top-up: the graph ran out of independent candidates, so take the best-ranked leftovers.
  for (let r = pivotCount; r < tokens && chosenCount < target; r++) {
    const j = order[r];
    if (tokenRoles[j] !== DROPPED) continue;
    tokenRoles[j] = Role.fill;
    chosenCount++;
  }
  return selectionFromRoles(tokenRoles, { scores: Float32Array.from(scores) });
}

/** The spatial term of the hybrid graph: 0 across tiles and for tokens without a position. */
export function spatialSimilarity(kernel: SpatialKernel, positions: TokenPositions): (i: number, j: number) => number {
  const { tile, row, col } = positions;
  if (kernel.kind === 'window') {
    const radius = kernel.radius;
    return (i, j) =>
      tile[i] >= 0 && tile[i] === tile[j] && Math.max(Math.abs(row[i] - row[j]), Math.abs(col[i] - col[j])) <= radius ? 1 : 0;
  }
  const twoSigmaSquared = 2 * kernel.sigma * kernel.sigma;
  return (i, j) => {
    if (tile[i] < 0 || tile[i] !== tile[j]) return 0;
    const dr = row[i] - row[j];
    const dc = col[i] - col[j];
    return Math.exp(-(dr * dr + dc * dc) / twoSigmaSquared);
  };
}

export const d2pruner: MethodDefinition<D2PrunerOptions> = {
  name: 'd2pruner',
  summary: 'debiased importance (a / prior) pivots + greedy maximal independent set on a semantic + spatial graph',
  paper: 'D2Pruner, arXiv 2512.19443 (AAAI 2026)',
  defaults: D2PRUNER_DEFAULTS,
  schema: {
    pivotRatio: numberIn({ min: 0, max: 1 }),
    threshold: numberIn({ min: -1, max: 1 }),
    alpha: numberIn({ min: 0, max: 1 }),
    spatial: spatialCheck,
    epsilon: numberIn({ min: 0, max: Infinity, exclusive: true }),
  },
  needs: (options) => ({ importance: true, grid: options.alpha < 1, dots: true }),
  run: runD2Pruner,
};
