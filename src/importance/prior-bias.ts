/**
 * A few numbers that say what shape a positional prior has, so a report can state "the model attends to
 * later tokens" or "to the border" from the prior itself instead of from a picture.
 */
import { ValidationError } from '../core/errors.js';
import { validatePrior, type PositionalPrior } from './prior.js';

/** Shares of a prior's total mass (each in [0, 1]; a uniform prior gives the `uniform…` values). */
export interface PriorBias {
  /** Mass on the bottom half of the rows (0.5 when uniform). A middle row of an odd grid counts half. */
  bottomHalf: number;
  /** Mass on the right half of the columns (0.5 when uniform). */
  rightHalf: number;
  /** Mass on the outermost ring of positions. */
  border: number;
  /** The ring's share of positions, i.e. `border` for a uniform prior. */
  uniformBorder: number;
  /** Mass on the 10% most-weighted positions (at least one position). */
  top10: number;
}

/**
 * Summarises where a prior puts its mass.
 * @throws ValidationError when the prior is malformed or its values sum to 0.
 */
export function describePriorBias(prior: PositionalPrior): PriorBias {
  const { values, grid } = validatePrior(prior);
  const { rows, cols } = grid;
  let total = 0;
  let bottom = 0;
  let right = 0;
  let border = 0;
  for (let r = 0; r < rows; r++) {
    const bottomShare = halfOverlap(r, rows);
    for (let c = 0; c < cols; c++) {
      const v = values[r * cols + c]!;
      total += v;
      bottom += v * bottomShare;
      right += v * halfOverlap(c, cols);
      if (r === 0 || c === 0 || r === rows - 1 || c === cols - 1) border += v;
    }
  }
  if (!(total > 0)) throw new ValidationError('prior.values', total, 'sum to 0, so the prior has no shape to describe');
  const sorted = Array.from(values).sort((a, b) => b - a);
  const topCount = Math.max(1, Math.round(0.1 * sorted.length));
  let top = 0;
  for (let i = 0; i < topCount; i++) top += sorted[i]!;
  const ring = rows * cols - Math.max(0, rows - 2) * Math.max(0, cols - 2);
  return {
    bottomHalf: bottom / total,
    rightHalf: right / total,
    border: border / total,
    uniformBorder: ring / (rows * cols),
    top10: top / total,
  };
}

/** One line for a report: `bottom half 61%, right half 61%, border ring 8% (16% if uniform), top 10% of positions 46%`. */
export function formatPriorBias(bias: PriorBias): string {
  const pct = (v: number) => `${Math.round(v * 100)}%`;
  return (
    `bottom half ${pct(bias.bottomHalf)}, right half ${pct(bias.rightHalf)}, ` +
    `border ring ${pct(bias.border)} (${pct(bias.uniformBorder)} if uniform), top 10% of positions ${pct(bias.top10)}`
  );
}

/** Overlap of cell [i, i+1) with the second half [n/2, n) of n cells. */
function halfOverlap(i: number, n: number): number {
  return Math.max(0, Math.min(i + 1, n) - Math.max(i, n / 2));
}
