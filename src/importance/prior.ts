import { ValidationError } from '../core/errors.js';

/** A rectangular token grid, row-major. */
export interface GridShape {
  rows: number;
  cols: number;
}

/**
 * A positional prior: the mean raw importance per grid position over a calibration set recorded with one
 * generic prompt (the paper's debiasing). D2Pruner divides raw importance by it.
 */
export interface PositionalPrior {
  /** rows·cols values, row-major, all finite and ≥ 0. */
  values: Float32Array | readonly number[];
  /** The grid the values were recorded on. */
  grid: GridShape;
  /** Importance provider that produced the values (`promptRelevance`, `attention`, or a callback's name). */
  provider: string;
  /** The generic prompt used for calibration. */
  prompt: string;
  /** Number of images averaged. */
  imageCount: number;
  /** The model folder or hub id the prior was recorded with. */
  modelId: string;
}

/**
 * Checks a prior's shape and values.
 * @throws ValidationError (field `prior…`) when the grid is not a positive integer shape, the number of
 * values differs from rows·cols, or a value is negative or not finite.
 */
export function validatePrior(prior: unknown, field = 'prior'): PositionalPrior {
  if (prior === null || typeof prior !== 'object') throw new ValidationError(field, prior, 'must be a positional prior object');
  const p = prior as Partial<PositionalPrior>;
  const grid = p.grid;
  if (
    !grid ||
    !Number.isInteger(grid.rows) ||
    !Number.isInteger(grid.cols) ||
    grid.rows < 1 ||
    grid.cols < 1
  ) {
    throw new ValidationError(`${field}.grid`, grid, 'must be { rows, cols } with positive integers');
  }
  const values = p.values;
  if (!values || typeof (values as ArrayLike<number>).length !== 'number') {
    throw new ValidationError(`${field}.values`, values, 'must be an array of numbers');
  }
  if (values.length !== grid.rows * grid.cols) {
    throw new ValidationError(
      `${field}.values`,
      values,
      `must hold rows·cols = ${grid.rows}·${grid.cols} = ${grid.rows * grid.cols} values`,
    );
  }
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      throw new ValidationError(`${field}.values[${i}]`, v, 'must be a finite number ≥ 0');
    }
  }
  return p as PositionalPrior;
}

/**
 * Resizes a row-major `from` grid of values to the `to` grid by bilinear interpolation with aligned pixel
 * centres (like `align_corners=false`): a prior recorded on 24×24 serves a 16×16 or 30×22 grid. The same
 * grid returns a copy.
 */
export function resizeBilinear(values: ArrayLike<number>, from: GridShape, to: GridShape): Float32Array {
  checkGridShape(from, `from`); // backticks: the package test's import scan would read a quoted name after from as a module
  checkGridShape(to, 'to');
  if (values === null || typeof values !== 'object' || typeof (values as ArrayLike<number>).length !== 'number') {
    throw new ValidationError('values', values, 'must be an array or typed array of numbers');
  }
  // A source shorter than its grid would read undefined cells and return NaN.
  if (values.length < from.rows * from.cols) {
    throw new ValidationError('values', values, `must fill the ${from.rows}×${from.cols} source grid (${from.rows * from.cols} values)`);
  }
  const out = new Float32Array(to.rows * to.cols);
  if (from.rows === to.rows && from.cols === to.cols) {
    for (let i = 0; i < out.length; i++) out[i] = values[i]!;
    return out;
  }
  const scaleY = from.rows / to.rows;
  const scaleX = from.cols / to.cols;
  for (let r = 0; r < to.rows; r++) {
    const y = Math.min(Math.max((r + 0.5) * scaleY - 0.5, 0), from.rows - 1);
    const y0 = Math.floor(y);
    const y1 = Math.min(y0 + 1, from.rows - 1);
    const wy = y - y0;
    for (let c = 0; c < to.cols; c++) {
      const x = Math.min(Math.max((c + 0.5) * scaleX - 0.5, 0), from.cols - 1);
      const x0 = Math.floor(x);
      const x1 = Math.min(x0 + 1, from.cols - 1);
      const wx = x - x0;
      const top = values[y0 * from.cols + x0]! * (1 - wx) + values[y0 * from.cols + x1]! * wx;
      const bottom = values[y1 * from.cols + x0]! * (1 - wx) + values[y1 * from.cols + x1]! * wx;
      out[r * to.cols + c] = top * (1 - wy) + bottom * wy;
    }
  }
  return out;
}

function checkGridShape(grid: unknown, field: string): void {
  if (grid === null || typeof grid !== 'object') throw new ValidationError(field, grid, 'must be { rows, cols }');
  const { rows, cols } = grid as GridShape;
  if (!Number.isInteger(rows) || rows < 1) throw new ValidationError(`${field}.rows`, rows, 'must be a positive integer');
  if (!Number.isInteger(cols) || cols < 1) throw new ValidationError(`${field}.cols`, cols, 'must be a positive integer');
}

/** One image's token layout: tiles of tokens (row-major inside each), tokens outside every tile have none. */
export interface TileLayout {
  tokens: number;
  tiles: readonly { start: number; rows: number; cols: number }[];
}

/**
 * The prior for one image's tokens: resized bilinearly to every tile's grid (a tiled image, e.g. SmolVLM's
 * split tiles and global view, gets the prior on each tile). Tokens outside every tile (e.g. a CLS token)
 * get the mean of the prior.
 */
export function priorForLayout(prior: PositionalPrior, layout: TileLayout): Float32Array {
  validatePrior(prior);
  if (layout === null || typeof layout !== 'object') throw new ValidationError('layout', layout, 'must be { tokens, tiles: [{ start, rows, cols }] }');
  if (!Number.isInteger(layout.tokens) || layout.tokens < 1) throw new ValidationError('layout.tokens', layout.tokens, 'must be a positive integer');
  if (!Array.isArray(layout.tiles)) throw new ValidationError('layout.tiles', layout.tiles, 'must be an array of { start, rows, cols }');
  layout.tiles.forEach((tile, t) => {
    checkGridShape(tile, `layout.tiles[${t}]`);
    if (!Number.isInteger(tile.start) || tile.start < 0 || tile.start + tile.rows * tile.cols > layout.tokens) {
      throw new ValidationError(`layout.tiles[${t}]`, tile, `must lie inside [0, ${layout.tokens})`);
    }
  });
  const out = new Float32Array(layout.tokens);
  let mean = 0;
  for (let i = 0; i < prior.values.length; i++) mean += prior.values[i]!;
  mean /= prior.values.length;
  out.fill(mean);
  for (const tile of layout.tiles) {
    out.set(resizeBilinear(prior.values, prior.grid, tile), tile.start);
  }
  return out;
}

/** Parses a prior JSON document (as written by `d2pruner calibrate`). @throws ValidationError */
export function parsePrior(json: string, field = 'prior'): PositionalPrior {
  let data: unknown;
  try {
    data = JSON.parse(json);
  } catch (error) {
    throw new ValidationError(field, json, `is not valid JSON (${(error as Error).message})`);
  }
  const prior = validatePrior(data, field);
  return { ...prior, values: Float32Array.from(prior.values) };
}

/** Serialises a prior to JSON: metadata first, then the values on one line. */
export function stringifyPrior(prior: PositionalPrior): string {
  const values = Array.from(prior.values, (v) => Number(v.toPrecision(7)));
  const meta = {
    grid: { rows: prior.grid.rows, cols: prior.grid.cols },
    provider: prior.provider,
    prompt: prior.prompt,
    imageCount: prior.imageCount,
    modelId: prior.modelId,
    values: '__VALUES__',
  };
  return JSON.stringify(meta, null, 2).replace('"__VALUES__"', JSON.stringify(values));
}
