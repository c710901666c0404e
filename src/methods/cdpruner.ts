import { numberIn, type OptionCheck } from '../core/options.js';
import { orderByDescending } from '../core/order.js';
import { DROPPED, selectionFromRoles } from '../core/result.js';
import { rowDots } from '../core/kernels.js';
import { TokenHeap } from '../core/lazy-heap.js';
import { cosineRow, rowNorms } from '../core/similarity.js';
import { Role, type PreparedInput, type Selection } from '../core/types.js';
import type { MethodDefinition } from './method.js';

export interface CdprunerOptions {
  /** θ_c in (0, 1): weight w = exp(θ_c·q / (2(1 − θ_c))); undefined (default) uses w = q. */
  theta: number | undefined;
}

export const CDPRUNER_DEFAULTS: Readonly<CdprunerOptions> = Object.freeze({ theta: undefined });

const RESIDUAL_FLOOR = 1e-10;

/**
 * CDPruner: greedy MAP of a conditional DPP with kernel L_ij = w_i·cosine(f_i, f_j)·w_j, by the fast
 * incremental-Cholesky algorithm (Chen et al., 2018), in float64. When the largest residual falls to 1e-10
 * before n picks, the rest are filled by w descending (role `fill`).
 *
 * Exactness: everything is float64 and the kept set, roles and scores are those of {@link cdprunerReference}
 * bit for bit, on the WebAssembly and the JS path alike. The kernel-row cosines are rowDot / (‖f_b‖‖f_i‖)
 * with rowDot's own summation order (the WebAssembly kernel reproduces it exactly); residuals and Cholesky
 * entries are the same float64 operations in the same order, only scheduled lazily: a residual never grows
 * (r − e² ≤ r in floating point too), so a stale residual bounds the current one. A max-heap of residuals is
 * popped; a popped token that missed picks gets its Cholesky entries and residual for exactly those picks
 * (same formula, same order) and goes back; the first up-to-date token at the top is the argmax (ties by
 * lower index). Tokens never near the top never get their rows, which is where the time goes otherwise.
 * Weights so large that residuals could overflow (w > 1e100) take the direct form instead.
 */
function runCdpruner(input: PreparedInput, options: CdprunerOptions): Selection {
  const { features, tokens, dim, budget } = input;
  const weight = cdprunerWeights(input.importance!, options);
  let largest = 0;
  for (let i = 0; i < tokens; i++) largest = Math.max(largest, weight[i]);
  if (!(largest <= 1e100)) return cdprunerReference(input, options);
  const exact = input.dots ?? rowDots(features, tokens, dim, budget);
  const norms = input.norms ?? exact.norms();
  const residual = new Float64Array(tokens);
  for (let i = 0; i < tokens; i++) residual[i] = norms[i] === 0 ? 0 : weight[i] * weight[i];

  const tokenRoles = new Uint8Array(tokens).fill(DROPPED);
  const width = Math.max(budget - 1, 1); // Cholesky entries per token: one per pick that has a row
  const cholesky = new Float64Array(tokens * width); // token i's entries at i·width + m
  const picks = new Int32Array(budget);
  const pivotScale = new Float64Array(budget);
  const upTo = new Int32Array(tokens); // picks folded into residual[i] and its Cholesky entries
  const dots = new Float64Array(budget);
  const heap = new TokenHeap(residual, tokens);
  for (let i = 0; i < tokens; i++) heap.push(i);
  const catchUp = (i: number, to: number) => {
    const from = upTo[i];
    exact.dots(i, picks.subarray(from, to), to - from, dots);
    const rowI = i * width;
    for (let m = from; m < to; m++) {
      const best = picks[m];
      const denominator = norms[best] * norms[i];
      const cosine = denominator === 0 ? 0 : dots[m - from] / denominator;
      const rowBest = best * width;
      let projection = 0;
      for (let r = 0; r < m; r++) projection += cholesky[rowBest + r] * cholesky[rowI + r];
      const next = (weight[best] * cosine * weight[i] - projection) / pivotScale[m];
      residual[i] -= next * next;
      cholesky[rowI + m] = next;
    }
    upTo[i] = to;
  };
  let picked = 0;
  while (picked < budget) {
    let best = heap.pop();
    while (upTo[best] !== picked) {
      catchUp(best, picked);
      heap.push(best);
      best = heap.pop();
    }
    if (residual[best] <= RESIDUAL_FLOOR) break;
    tokenRoles[best] = Role.mis;
    picks[picked] = best;
    pivotScale[picked] = Math.sqrt(residual[best]);
    picked++;
  }
  fillByWeight(tokenRoles, weight, picked, budget);
  return selectionFromRoles(tokenRoles, { scores: Float32Array.from(weight) });
}

/** w_i = q_i, or exp(θ·q_i / (2(1 − θ))), with q the min–max-scaled importance (ALGORITHM.md). */
function cdprunerWeights(importance: Float64Array, options: CdprunerOptions): Float64Array {
  const tokens = importance.length;
  let low = Infinity;
  let high = -Infinity;
  for (const a of importance) {
    if (a < low) low = a;
    if (a > high) high = a;
  }
  const weight = new Float64Array(tokens);
  for (let i = 0; i < tokens; i++) {
    const relevance = high === low ? 1 : (importance[i] - low + 1e-6) / (high - low);
    weight[i] = options.theta === undefined ? relevance : Math.exp((options.theta * relevance) / (2 * (1 - options.theta)));
  }
  return weight;
}

/** The residuals ran out before n picks: the unchosen tokens by weight descending (role `fill`). */
function fillByWeight(tokenRoles: Uint8Array, weight: Float64Array, picked: number, budget: number): void {
  if (picked >= budget) return;
  for (const i of orderByDescending(weight)) {
    if (picked === budget) break;
    if (tokenRoles[i] !== DROPPED) continue;
    tokenRoles[i] = Role.fill;
    picked++;
  }
}

/**
 * The direct form of CDPruner (one full kernel row and Cholesky row per pick, every residual updated each
 * step), kept as the reference the lazy form is tested and benchmarked against.
 */
export function cdprunerReference(input: PreparedInput, options: CdprunerOptions): Selection {
  const { features, tokens, dim, budget } = input;
  const weight = cdprunerWeights(input.importance!, options);
  const norms = rowNorms(features, tokens, dim);
  const residual = new Float64Array(tokens);
  for (let i = 0; i < tokens; i++) residual[i] = norms[i] === 0 ? 0 : weight[i] * weight[i];

  const tokenRoles = new Uint8Array(tokens).fill(DROPPED);
  const cholesky: Float64Array[] = [];
  const cosine = new Float64Array(tokens);
  let picked = 0;
  while (picked < budget) {
    let best = -1;
    for (let i = 0; i < tokens; i++) {
      if (tokenRoles[i] === DROPPED && (best === -1 || residual[i] > residual[best])) best = i;
    }
    if (residual[best] <= RESIDUAL_FLOOR) break;
    tokenRoles[best] = Role.mis;
    picked++;
    if (picked === budget) break;
    const pivotScale = Math.sqrt(residual[best]);
    cosineRow(features, tokens, dim, norms, best, cosine);
    const next = new Float64Array(tokens);
    for (let i = 0; i < tokens; i++) {
      let projection = 0;
      for (const row of cholesky) projection += row[best] * row[i];
      next[i] = (weight[best] * cosine[i] * weight[i] - projection) / pivotScale;
      residual[i] -= next[i] * next[i];
    }
    cholesky.push(next);
  }
  fillByWeight(tokenRoles, weight, picked, budget);
  return selectionFromRoles(tokenRoles, { scores: Float32Array.from(weight) });
}

const thetaCheck: OptionCheck<number | undefined> = (value, field) =>
  value === undefined ? undefined : numberIn({ min: 0, max: 1, exclusive: true })(value, field);

export const cdpruner: MethodDefinition<CdprunerOptions> = {
  name: 'cdpruner',
  summary: 'conditional DPP (relevance-weighted cosine kernel), greedy MAP',
  paper: 'CDPruner, Zhang et al., 2025 (arXiv 2506.10967)',
  defaults: CDPRUNER_DEFAULTS,
  schema: { theta: thetaCheck },
  needs: () => ({ importance: true, grid: false, dots: true }),
  run: runCdpruner,
};
