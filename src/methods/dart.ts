import { numberIn } from '../core/options.js';
import { orderByDescending } from '../core/order.js';
import { selectionFromIndices } from '../core/result.js';
import { cosineRow, rowL1, rowNorms } from '../core/similarity.js';
import type { PreparedInput, Selection } from '../core/types.js';
import type { MethodDefinition } from './method.js';

export interface DartOptions {
  /** Number of pivot tokens (largest L1 feature norm), capped at the budget. Default 8. */
  pivots: number;
}

export const DART_DEFAULTS: Readonly<DartOptions> = Object.freeze({ pivots: 8 });

/**
 * DART's duplication rule: p pivots with the largest L1 feature norm; the other n − p slots are shared out in
 * pivot order, each pivot taking its share of the still-available tokens least cosine-similar to it.
 */
function runDart(input: PreparedInput, options: DartOptions): Selection {
  const { features, tokens, dim, budget } = input;
  const l1 = new Float64Array(tokens);
  for (let i = 0; i < tokens; i++) l1[i] = rowL1(features, dim, i);
  const pivotCount = Math.min(options.pivots, budget);
  const pivots = orderByDescending(l1).subarray(0, pivotCount);

  const taken = new Uint8Array(tokens);
  for (const pivot of pivots) taken[pivot] = 1;
  const picks: number[] = Array.from(pivots);
  const remaining = budget - pivotCount;
  const norms = input.norms ?? rowNorms(features, tokens, dim);
  const similarity = new Float64Array(tokens);
  const negated = new Float64Array(tokens);
  for (let k = 0; k < pivotCount; k++) {
    const share = Math.floor(remaining / pivotCount) + (k < remaining % pivotCount ? 1 : 0);
    if (share === 0) continue;
    cosineRow(features, tokens, dim, norms, pivots[k], similarity);
    // Least similar first = most negative similarity first; ties by lower index.
    for (let j = 0; j < tokens; j++) negated[j] = taken[j] ? -Infinity : -similarity[j];
    const order = orderByDescending(negated);
    for (let t = 0; t < share; t++) {
      taken[order[t]] = 1;
      picks.push(order[t]);
    }
  }
  return selectionFromIndices(tokens, picks);
}

export const dart: MethodDefinition<DartOptions> = {
  name: 'dart',
  summary: 'a few high-L1-norm pivots, each keeping the tokens least similar to it (fewest duplicates)',
  paper: 'DART, Wen et al., 2025 (arXiv 2502.11494)',
  defaults: DART_DEFAULTS,
  schema: { pivots: numberIn({ min: 1, integer: true }) },
  needs: () => ({ importance: false, grid: false, norms: true }),
  run: runDart,
};
