import { selectionFromIndices } from '../core/result.js';
import type { PreparedInput, Selection } from '../core/types.js';
import { NO_OPTIONS, type MethodDefinition, type NoOptions } from './method.js';

/** Evenly spaced tokens: floor((k + 0.5)·N / n) for k = 0…n−1. */
function runUniform(input: PreparedInput): Selection {
  const { tokens, budget } = input;
  const picks = new Int32Array(budget);
  for (let k = 0; k < budget; k++) picks[k] = Math.floor(((k + 0.5) * tokens) / budget);
  return selectionFromIndices(tokens, picks);
}

export const uniform: MethodDefinition<NoOptions> = {
  name: 'uniform',
  summary: 'evenly spaced tokens in sequence order',
  paper: 'baseline',
  defaults: NO_OPTIONS,
  schema: {},
  needs: () => ({ importance: false, grid: false }),
  run: runUniform,
};
