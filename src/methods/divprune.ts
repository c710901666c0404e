import { argmax } from '../core/order.js';
import { selectionFromIndices } from '../core/result.js';
import { cosineRow, nearestCosines, rowNorms } from '../core/similarity.js';
import type { PreparedInput, Selection } from '../core/types.js';
import { NO_OPTIONS, type MethodDefinition, type NoOptions } from './method.js';

/**
 * DivPrune: greedy max–min diversity with distance 1 − cosine. The first token is the one farthest from its
 * nearest other token (this needs every pair once); then, repeatedly, the token farthest from the chosen set.
 */
function runDivPrune(input: PreparedInput): Selection {
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
  needs: () => ({ importance: false, grid: false }),
  run: runDivPrune,
};
