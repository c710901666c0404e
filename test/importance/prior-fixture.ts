import type { PositionalPrior } from '../../src/importance/prior.js';

/** A prior with the given values on a rows×cols grid and fixed metadata, for tests. */
export const makePrior = (values: number[], rows: number, cols: number): PositionalPrior => ({
  values,
  grid: { rows, cols },
  provider: 'promptRelevance',
  prompt: 'Describe the image.',
  imageCount: 3,
  modelId: 'fixture',
});
