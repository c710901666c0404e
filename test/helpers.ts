import { mulberry32 } from '../src/core/random.js';

/** Deterministic pseudo-random numbers for tests. */
export function seeded(seed: number) {
  const next = mulberry32(seed);
  return {
    next,
    int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)),
    /** Values on a coarse lattice so ties and duplicates actually occur. */
    coarse: () => Math.round((next() * 2 - 1) * 4) / 4,
  };
}

/** Row-major Float32Array from a list of rows. */
export function rows(...list: number[][]): Float32Array {
  return Float32Array.from(list.flat());
}
