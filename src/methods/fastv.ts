import { topIndices } from '../core/order.js';
import { selectionFromIndices } from '../core/result.js';
import { Role, type PreparedInput, type Selection } from '../core/types.js';
import { NO_OPTIONS, type MethodDefinition, type NoOptions } from './method.js';

/** FastV's rule: the n tokens with the highest raw importance; the prior is ignored. */
function runFastV(input: PreparedInput): Selection {
  const importance = input.importance!;
  return selectionFromIndices(input.tokens, topIndices(importance, input.budget), Role.mis, {
    scores: Float32Array.from(importance),
  });
}

export const fastv: MethodDefinition<NoOptions> = {
  name: 'fastv',
  summary: 'top-n by raw importance (attention of the last prompt token)',
  paper: 'FastV, Chen et al., ECCV 2024 (arXiv 2403.06764)',
  defaults: NO_OPTIONS,
  schema: {},
  needs: () => ({ importance: true, grid: false }),
  run: runFastV,
};
