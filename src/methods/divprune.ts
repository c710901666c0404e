import { approxCosines, rowDots, type RowDots } from '../core/kernels.js';
import { TokenHeap } from '../core/lazy-heap.js';
import { argmax } from '../core/order.js';
import { selectionFromIndices } from '../core/result.js';
import { cosineRow, nearestCosines, rowDot, rowNorms } from '../core/similarity.js';
import type { PreparedInput, Selection } from '../core/types.js';
import { NO_OPTIONS, type MethodDefinition, type NoOptions } from './method.js';

/**
 * DivPrune: greedy max–min diversity with distance 1 − cosine. The first token is the one farthest from its
 * nearest other token (this needs every pair once); then, repeatedly, the token farthest from the chosen set.
 *
 * Exactness: the kept set is, by construction, the one {@link divpruneReference} (the direct form of the
 * contract, float64 cosines) returns. What is approximate and what is not:
 * - First pick, WebAssembly path: cosines are first computed in float32 (SIMD, unit rows), each within a
 *   proven bound E of the float64 cosine. A token is ruled out as soon as one of its cosines exceeds the
 *   smallest complete approximate nearest cosine found so far by more than 2E (then its exact nearest cosine
 *   is strictly larger than that token's), so most rows stop after a few hundred pairs. Only fully scanned
 *   tokens whose approximate nearest cosine is within 2E of the smallest can be the first pick; for each, its nearest cosine is recomputed exactly in float64
 *   (over the other tokens whose approximate cosine is within 2E of its approximate maximum, the only ones
 *   that can be the maximum). Every other token's distance is then provably smaller than the best, so ties
 *   and order are decided on float64 values only. JS path: the exact float64 all-pairs scan.
 * - The greedy steps are exact float64 on both paths, computed lazily: a token's distance to the chosen set
 *   only shrinks, so a stale value is an upper bound; a max-heap of stale values is popped, the popped
 *   token is brought up to date against the picks it missed, and it is taken once it is up to date at the
 *   top (ties by lower index). The minimum over the same float64 distances does not depend on the order.
 */
function runDivPrune(input: PreparedInput): Selection {
  const { features, tokens, dim, budget } = input;
  const exact = input.dots ?? rowDots(features, tokens, dim, Math.max(tokens, budget));
  const norms = input.norms ?? exact.norms();
  const first = firstPick(features, tokens, dim, norms);
  const picks = new Int32Array(budget);
  picks[0] = first;
  if (budget === 1) return selectionFromIndices(tokens, picks);

  const cosines = new Float64Array(Math.max(tokens, budget));
  const toChosen = new Float64Array(tokens);
  const all = new Int32Array(tokens);
  for (let j = 0; j < tokens; j++) all[j] = j;
  exact.dots(first, all, tokens, cosines);
  for (let j = 0; j < tokens; j++) toChosen[j] = 1 - cosineOf(cosines[j], norms, first, j);
  const upTo = new Int32Array(tokens).fill(1); // picks already folded into toChosen[j]
  const heap = new TokenHeap(toChosen, tokens);
  for (let j = 0; j < tokens; j++) if (j !== first) heap.push(j);
  for (let k = 1; k < budget; k++) {
    let pick = heap.pop();
    while (upTo[pick] !== k) {
      catchUp(exact, norms, picks, pick, upTo[pick], k, cosines, toChosen);
      upTo[pick] = k;
      heap.push(pick);
      pick = heap.pop();
    }
    picks[k] = pick;
  }
  return selectionFromIndices(tokens, picks);
}

function cosineOf(dot: number, norms: Float64Array, i: number, j: number): number {
  const denominator = norms[i] * norms[j];
  return denominator === 0 ? 0 : dot / denominator;
}

/** Folds picks[from..to) into toChosen[token], with the same float64 distances as the eager loop. */
function catchUp(exact: RowDots, norms: Float64Array, picks: Int32Array, token: number, from: number, to: number, cosines: Float64Array, toChosen: Float64Array): void {
  const count = to - from;
  exact.dots(token, picks.subarray(from, to), count, cosines);
  let value = toChosen[token];
  for (let m = 0; m < count; m++) {
    const distance = 1 - cosineOf(cosines[m], norms, picks[from + m], token);
    if (distance < value) value = distance;
  }
  toChosen[token] = value;
}

/** The token whose nearest other token is farthest, exactly as {@link divpruneReference} picks it. */
function firstPick(features: Float32Array, tokens: number, dim: number, norms: Float64Array): number {
  const approx = tokens > 1 ? approxCosines(features, tokens, dim, norms) : null;
  if (!approx) return argmax(nearestCosines(features, tokens, dim, norms).map((cosine) => 1 - cosine));
  const bound = approx.bound;
  const { nearest, complete } = approx.nearestPruned();
  let lowest = Infinity;
  for (let i = 0; i < tokens; i++) if (complete[i] && nearest[i] < lowest) lowest = nearest[i];
  // The reference computes pairs inside its 4×4 blocks with one float64 accumulator and pairs with a row past
  // the last full block with rowDot's four: reproduce whichever it used.
  const full = tokens & ~3;
  const pairCosine = (i: number, j: number) =>
    cosineOf(i < full && j < full ? sequentialDot(features, dim, i, j) : rowDot(features, dim, i, j), norms, i, j);
  const row = new Float64Array(tokens);
  let best = -1;
  let bestDistance = -Infinity;
  for (let i = 0; i < tokens; i++) {
    // Ruled out: its exact nearest cosine is strictly above a complete row's (see nearestPruned).
    if (!complete[i] || nearest[i] > lowest + 2 * bound) continue;
    approx.row(i, row);
    let rowMax = -Infinity;
    for (let j = 0; j < tokens; j++) if (j !== i && row[j] > rowMax) rowMax = row[j];
    let exactNearest = -Infinity;
    for (let j = 0; j < tokens; j++) {
      if (j === i || row[j] < rowMax - 2 * bound) continue;
      const cosine = pairCosine(i, j);
      if (cosine > exactNearest) exactNearest = cosine;
    }
    const distance = 1 - exactNearest;
    if (best === -1 || distance > bestDistance) {
      best = i;
      bestDistance = distance;
    }
  }
  return best;
}

/** f_i·f_j with one float64 accumulator in order of d, as the reference's 4×4 blocks compute each pair. */
function sequentialDot(features: Float32Array, dim: number, i: number, j: number): number {
  let sum = 0;
  for (let a = i * dim, b = j * dim, end = a + dim; a < end; a++, b++) sum += features[a] * features[b];
  return sum;
}

/**
 * The direct form of DivPrune (all-pairs nearest cosines, then one full float64 cosine row per pick),
 * kept as the reference the fast path is tested and benchmarked against.
 */
export function divpruneReference(input: PreparedInput): Selection {
  const { features, tokens, dim, budget } = input;
  const norms = rowNorms(features, tokens, dim);
  const nearestCosine = nearestCosines(features, tokens, dim, norms);
  const nearest = nearestCosine.map((cosine) => 1 - cosine); // N = 1: distance Infinity, still the argmax
  const chosen = new Uint8Array(tokens);
  const picks = new Int32Array(budget);
  const row = new Float64Array(tokens);
  const toChosen = new Float64Array(tokens).fill(Infinity);
  let pick = argmax(nearest);
  for (let k = 0; k < budget; k++) {
    picks[k] = pick;
    chosen[pick] = 1;
    if (k === budget - 1) break;
    cosineRow(features, tokens, dim, norms, pick, row);
    for (let j = 0; j < tokens; j++) {
      const distance = 1 - row[j];
      if (distance < toChosen[j]) toChosen[j] = distance;
    }
    pick = argmax(toChosen, (j) => chosen[j] === 0);
  }
  return selectionFromIndices(tokens, picks);
}

export const divprune: MethodDefinition<NoOptions> = {
  name: 'divprune',
  summary: 'greedy max–min diversity (distance 1 − cosine), prompt-agnostic',
  paper: 'DivPrune, Alvar et al., CVPR 2025 (arXiv 2503.02175)',
  defaults: NO_OPTIONS,
  schema: {},
  needs: () => ({ importance: false, grid: false, dots: true }),
  run: runDivPrune,
};
