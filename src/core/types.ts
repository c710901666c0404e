import type { RowDots } from './kernels.js';

/** One rectangular block of tokens laid out row-major, starting at token index `start`. */
export interface Tile {
  /** Index of the tile's first token in the token sequence. */
  start: number;
  rows: number;
  cols: number;
}

/**
 * 2-D position of each token: one `rows × cols` grid covering tokens 0…rows·cols−1, or several tiles
 * (e.g. SmolVLM's image splitting). Tokens outside every tile have no position.
 */
export type Grid = { rows: number; cols: number } | { tiles: readonly Tile[] };

/** A numeric array accepted as input; converted to Float32Array/Float64Array internally, never mutated. */
export type NumericArray = Float32Array | Float64Array | readonly number[];

/** What every selection method receives (ALGORITHM.md, "Inputs"). */
export interface SelectionInput {
  /** N×D visual-token features, row-major. */
  features: NumericArray;
  /** [N, D]: number of tokens and feature width. */
  dims: readonly [number, number];
  /** Raw importance per token (length N); required by importance-based methods. */
  importance?: NumericArray;
  /** Positional prior per token (length N), optional; d2pruner divides importance by it. */
  prior?: NumericArray;
  /** 2-D layout; needed only by methods that use positions (d2pruner with alpha < 1). */
  grid?: Grid;
  /** Integer number of tokens to keep in [1, N], or a fraction in (0, 1) meaning max(1, round(f·N)). */
  budget: number;
}

/** Role of each kept token. Methods without roles report `mis`. */
export const Role = Object.freeze({ pivot: 0, mis: 1, fill: 2 } as const);
export type RoleCode = (typeof Role)[keyof typeof Role];

/** The result of every method (ALGORITHM.md, "Result"). */
export interface Selection {
  /** Kept token indices, sorted ascending, length n. */
  keep: Int32Array;
  /** Role per kept token (parallel to `keep`): 0 pivot, 1 mis, 2 fill. */
  roles: Uint8Array;
  /** The score each token (all N) was ranked by, where the method ranks by a score. */
  scores?: Float32Array;
  /** Merged features (n×D, parallel to `keep`), for merging methods (visionzip). */
  features?: Float32Array;
}

/** Per-token positions resolved from a Grid: tile id (−1 = no position), row and column inside the tile. */
export interface TokenPositions {
  tile: Int32Array;
  row: Int32Array;
  col: Int32Array;
}

/** Validated, normalised input handed to a method's implementation. Methods may assume it is valid. */
export interface PreparedInput {
  features: Float32Array;
  tokens: number;
  dim: number;
  importance: Float64Array | null;
  prior: Float64Array | null;
  positions: TokenPositions | null;
  budget: number;
  /** Row norms (rowNorms of similarity.ts), when the method asked for them in its `needs`; else null. */
  norms: Float64Array | null;
  /**
   * Exact row dot products over `features` (kernels.ts), when the method asked for them in its `needs`; else
   * null. Valid until the next kernel session is opened.
   */
  dots: RowDots | null;
}
