import { ValidationError } from './errors.js';
import { rowDots, type RowDots } from './kernels.js';
import { rowNorms } from './similarity.js';
import type { Grid, NumericArray, PreparedInput, SelectionInput, Tile, TokenPositions } from './types.js';

/** What a method needs from the input, declared by the method so validation can stay in one place. */
export interface InputNeeds {
  importance: boolean;
  grid: boolean;
  /**
   * Every row's Euclidean norm (`PreparedInput.norms`), for methods that compare features by cosine. The
   * norms are computed in the validation pass itself, which then doubles as the finiteness check.
   */
  norms?: boolean;
  /**
   * An exact row-dot kernel session over the features (`PreparedInput.dots`, WebAssembly SIMD where
   * available), opened in the validation pass; its norms are `PreparedInput.norms` (implies `norms`).
   */
  dots?: boolean;
}

/**
 * Resolves a budget to a token count: an integer in [1, N], or a fraction f in (0, 1) meaning
 * max(1, round(f·N)) (round half up).
 * @throws ValidationError naming `budget` for anything else (0, 2.5, N + 1, NaN, a string).
 */
export function resolveBudget(budget: unknown, tokens: number, field = 'budget'): number {
  if (typeof budget !== 'number' || !Number.isFinite(budget)) {
    throw new ValidationError(field, budget, 'must be an integer in [1, N] or a fraction in (0, 1)');
  }
  if (budget > 0 && budget < 1) return Math.max(1, Math.round(budget * tokens));
  if (!Number.isInteger(budget) || budget < 1 || budget > tokens) {
    throw new ValidationError(field, budget, `must be an integer in [1, ${tokens}] or a fraction in (0, 1)`);
  }
  return budget;
}

/** Validates `input` once for every method and converts it to the typed arrays methods work on. */
export function prepareInput(input: SelectionInput, needs: InputNeeds, method: string): PreparedInput {
  if (input === null || typeof input !== 'object') throw new ValidationError('input', input, 'must be an object');
  const [tokens, dim] = checkDims(input.dims);
  const { features, norms, dots } = checkFeatures(input.features, tokens, dim, needs.dots ? 'dots' : needs.norms ? 'norms' : 'scan');
  const importance = input.importance === undefined ? null : toFloat64(input.importance, 'importance', tokens);
  if (needs.importance && importance === null) {
    throw new ValidationError('importance', undefined, `is required by method "${method}"`);
  }
  const prior = input.prior === undefined ? null : toFloat64(input.prior, 'prior', tokens);
  if (prior !== null) {
    checkNonNegative(prior, 'prior');
    if (importance !== null) checkNonNegative(importance, 'importance');
  }
  const budget = resolveBudget(input.budget, tokens);
  let positions: TokenPositions | null = null;
  if (input.grid !== undefined) positions = resolveGrid(input.grid, tokens);
  else if (needs.grid) positions = resolveGrid(defaultGrid(tokens, method), tokens);
  return { features, tokens, dim, importance, prior, positions, budget, norms, dots };
}

/**
 * The features as float32, checked finite; with `norms`, also every row's norm (and with `dots`, the kernel
 * session the norms came from). For float32 input the norm pass is the finiteness check: a sum of squares of
 * finite float32 values cannot overflow float64 (at most 2^256 per term), and an Infinity or NaN makes its
 * row's sum non-finite, so only a row whose norm is not finite needs a look for the offending value. One
 * pass over the features instead of two.
 */
function checkFeatures(
  values: unknown,
  tokens: number,
  dim: number,
  mode: 'scan' | 'norms' | 'dots',
): { features: Float32Array; norms: Float64Array | null; dots: RowDots | null } {
  if (mode === 'scan') return { features: toFloat32(values, 'features', tokens * dim), norms: null, dots: null };
  let features: Float32Array;
  if (values instanceof Float32Array) {
    checkArrayLike(values, 'features', tokens * dim);
    features = values;
  } else {
    features = toFloat32(values, 'features', tokens * dim);
  }
  const dots = mode === 'dots' ? rowDots(features, tokens, dim, tokens) : null;
  const norms = dots ? dots.norms() : rowNorms(features, tokens, dim);
  for (let i = 0; i < tokens; i++) {
    if (!Number.isFinite(norms[i])) checkFinite(Array.from(features.subarray(i * dim, (i + 1) * dim)), 'features', i * dim);
  }
  return { features, norms, dots };
}

function checkDims(dims: unknown): [number, number] {
  if (!Array.isArray(dims) || dims.length !== 2) throw new ValidationError('dims', dims, 'must be [N, D]');
  const [tokens, dim] = dims;
  if (!Number.isInteger(tokens) || tokens < 1) throw new ValidationError('dims[0]', tokens, 'N must be a positive integer');
  if (!Number.isInteger(dim) || dim < 1) throw new ValidationError('dims[1]', dim, 'D must be a positive integer');
  return [tokens, dim];
}

function checkArrayLike(values: unknown, field: string, length: number): asserts values is NumericArray {
  const ok = Array.isArray(values) || values instanceof Float32Array || values instanceof Float64Array;
  if (!ok) throw new ValidationError(field, values, 'must be an array of numbers, Float32Array or Float64Array');
  if ((values as ArrayLike<number>).length !== length) {
    throw new ValidationError(field, values, `must have length ${length}`);
  }
}

function checkFinite(values: ArrayLike<unknown>, field: string, offset = 0): void {
  if (values instanceof Float32Array) {
    if (float32AllFinite(values)) return;
  } else if (values instanceof Float64Array) {
    let bad = false;
    for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) bad = true;
    if (!bad) return;
  }
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new ValidationError(`${field}[${offset + i}]`, value, 'must be a finite number');
    }
  }
}

/**
 * True when no entry is ±Infinity or NaN. Those have an all-ones exponent, and (bits & 0x7f800000) + 0x00800000
 * sets the sign bit exactly then, so OR-ing that into four independent accumulators scans with no branches
 * and no float dependency chain (about 1 ns per 4 values).
 */
function float32AllFinite(values: Float32Array): boolean {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const end4 = bits.length & ~3;
  let a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  for (let i = 0; i < end4; i += 4) {
    a0 |= (bits[i] & 0x7f800000) + 0x00800000;
    a1 |= (bits[i + 1] & 0x7f800000) + 0x00800000;
    a2 |= (bits[i + 2] & 0x7f800000) + 0x00800000;
    a3 |= (bits[i + 3] & 0x7f800000) + 0x00800000;
  }
  for (let i = end4; i < bits.length; i++) a0 |= (bits[i] & 0x7f800000) + 0x00800000;
  return ((a0 | a1 | a2 | a3) & 0x80000000) === 0;
}

function checkNonNegative(values: Float64Array, field: string): void {
  for (let i = 0; i < values.length; i++) {
    if (values[i] < 0) throw new ValidationError(`${field}[${i}]`, values[i], 'must be >= 0 when a prior is given');
  }
}

function toFloat32(values: unknown, field: string, length: number): Float32Array {
  checkArrayLike(values, field, length);
  checkFinite(values, field);
  // Float32Array input is used as is (read-only); anything else is copied once.
  if (values instanceof Float32Array) return values;
  const copy = Float32Array.from(values);
  // A double such as 1e39 is finite but becomes Infinity in float32: check the copy the methods will read.
  if (!float32AllFinite(copy)) checkFloat32Range(values, field);
  return copy;
}

function toFloat64(values: unknown, field: string, length: number): Float64Array {
  checkArrayLike(values, field, length);
  checkFinite(values, field);
  // Every float input of the contract is float32 data (scores are reported as Float32Array, kernels may
  // run in float32), so a value that overflows float32 is rejected here too.
  checkFloat32Range(values, field);
  return Float64Array.from(values);
}

/** Throws naming `field[i]` for the first finite value that overflows float32 (|x| ≥ 2^128 after rounding). */
function checkFloat32Range(values: ArrayLike<number>, field: string): void {
  if (values instanceof Float32Array) return;
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(Math.fround(values[i]))) {
      throw new ValidationError(`${field}[${i}]`, values[i], 'overflows float32 (it would become Infinity); values must be finite as float32');
    }
  }
}

function defaultGrid(tokens: number, method: string): Grid {
  const side = Math.round(Math.sqrt(tokens));
  if (side * side !== tokens) {
    throw new ValidationError('grid', undefined, `is required by method "${method}" with these options when N (${tokens}) is not a perfect square`);
  }
  return { rows: side, cols: side };
}

function checkTile(tile: unknown, field: string, tokens: number): Tile {
  if (tile === null || typeof tile !== 'object') throw new ValidationError(field, tile, 'must be an object');
  const { start = 0, rows, cols } = tile as Partial<Tile>;
  if (!Number.isInteger(start) || start < 0) throw new ValidationError(`${field}.start`, start, 'must be an integer >= 0');
  if (!Number.isInteger(rows) || (rows as number) < 1) throw new ValidationError(`${field}.rows`, rows, 'must be a positive integer');
  if (!Number.isInteger(cols) || (cols as number) < 1) throw new ValidationError(`${field}.cols`, cols, 'must be a positive integer');
  const end = start + (rows as number) * (cols as number);
  if (end > tokens) throw new ValidationError(field, tile, `covers tokens [${start}, ${end}) outside [0, ${tokens})`);
  return { start, rows: rows as number, cols: cols as number };
}

/**
 * Resolves a grid to per-token positions. A plain `{rows, cols}` grid covers tokens from 0; tiles must lie
 * inside [0, N) and must not overlap.
 */
export function resolveGrid(grid: Grid, tokens: number): TokenPositions {
  if (grid === null || typeof grid !== 'object') throw new ValidationError('grid', grid, 'must be {rows, cols} or {tiles: [...]}');
  let tiles: Tile[];
  if ('tiles' in grid) {
    if (!Array.isArray(grid.tiles) || grid.tiles.length === 0) {
      throw new ValidationError('grid.tiles', grid.tiles, 'must be a non-empty array of {start, rows, cols}');
    }
    tiles = grid.tiles.map((tile, t) => checkTile(tile, `grid.tiles[${t}]`, tokens));
  } else {
    const { rows, cols } = grid as { rows: unknown; cols: unknown };
    if (!Number.isInteger(rows) || (rows as number) < 1) throw new ValidationError('grid.rows', rows, 'must be a positive integer');
    if (!Number.isInteger(cols) || (cols as number) < 1) throw new ValidationError('grid.cols', cols, 'must be a positive integer');
    if ((rows as number) * (cols as number) > tokens) {
      throw new ValidationError('grid', grid, `has ${(rows as number) * (cols as number)} cells but there are only ${tokens} tokens`);
    }
    tiles = [{ start: 0, rows: rows as number, cols: cols as number }];
  }
  const tile = new Int32Array(tokens).fill(-1);
  const row = new Int32Array(tokens);
  const col = new Int32Array(tokens);
  tiles.forEach((t, id) => {
    for (let k = 0; k < t.rows * t.cols; k++) {
      const token = t.start + k;
      if (tile[token] !== -1) {
        throw new ValidationError(`grid.tiles[${id}]`, t, `overlaps grid.tiles[${tile[token]}] at token ${token}`);
      }
      tile[token] = id;
      row[token] = Math.floor(k / t.cols);
      col[token] = k % t.cols;
    }
  });
  return { tile, row, col };
}
