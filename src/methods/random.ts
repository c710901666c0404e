import { numberIn } from '../core/options.js';
import { mulberry32 } from '../core/random.js';
import { selectionFromIndices } from '../core/result.js';
import type { PreparedInput, Selection } from '../core/types.js';
import type { MethodDefinition } from './method.js';

export interface RandomOptions {
  /** Seed of the generator; same seed, same result. Default 0. */
  seed: number;
}

export const RANDOM_DEFAULTS: Readonly<RandomOptions> = Object.freeze({ seed: 0 });

/** n distinct tokens drawn uniformly: a partial Fisher–Yates shuffle driven by mulberry32(seed). */
function runRandom(input: PreparedInput, options: RandomOptions): Selection {
  const { tokens, budget } = input;
  const next = mulberry32(options.seed);
  const pool = new Int32Array(tokens);
  for (let i = 0; i < tokens; i++) pool[i] = i;
  for (let k = 0; k < budget; k++) {
    const pick = k + Math.floor(next() * (tokens - k));
    const swap = pool[k];
    pool[k] = pool[pick];
    pool[pick] = swap;
  }
  return selectionFromIndices(tokens, pool.subarray(0, budget));
}

export const random: MethodDefinition<RandomOptions> = {
  name: 'random',
  summary: 'n distinct tokens drawn uniformly with a seeded generator',
  paper: 'baseline',
  defaults: RANDOM_DEFAULTS,
  schema: { seed: numberIn({ min: 0, max: 4294967295, integer: true }) },
  needs: () => ({ importance: false, grid: false }),
  run: runRandom,
};
