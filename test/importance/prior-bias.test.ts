import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/core/errors.js';
import { describePriorBias, formatPriorBias } from '../../src/importance/prior-bias.js';
import { makePrior as prior } from './prior-fixture.js';

describe('describePriorBias', () => {
  it('gives the uniform shares for a constant prior', () => {
    const bias = describePriorBias(prior(new Array(24 * 24).fill(0.3), 24, 24));
    expect(bias.bottomHalf).toBeCloseTo(0.5, 12);
    expect(bias.rightHalf).toBeCloseTo(0.5, 12);
    expect(bias.uniformBorder).toBeCloseTo(92 / 576, 12);
    expect(bias.border).toBeCloseTo(92 / 576, 12);
    expect(bias.top10).toBeCloseTo(58 / 576, 12); // round(57.6) = 58 positions
  });

  it('measures a prior that grows with the raster index (later tokens attended more)', () => {
    // 2×2 grid, values 1 2 / 3 4: bottom row 7/10, right column 6/10, every cell on the ring, top 10% = 1 cell = 4/10
    const bias = describePriorBias(prior([1, 2, 3, 4], 2, 2));
    expect(bias.bottomHalf).toBeCloseTo(0.7, 12);
    expect(bias.rightHalf).toBeCloseTo(0.6, 12);
    expect(bias.border).toBeCloseTo(1, 12);
    expect(bias.uniformBorder).toBe(1);
    expect(bias.top10).toBeCloseTo(0.4, 12);
  });

  it('splits the middle row of an odd grid between the halves', () => {
    // 3×1 column 0 1 0: all mass in the middle row, half of it counts as bottom
    expect(describePriorBias(prior([0, 1, 0], 3, 1)).bottomHalf).toBeCloseTo(0.5, 12);
    expect(describePriorBias(prior([0, 0, 1], 3, 1)).bottomHalf).toBeCloseTo(1, 12);
  });

  it('finds the border ring and the inner positions apart', () => {
    const values = new Array(16).fill(0);
    values[5] = 1; // (1,1), inside the ring of a 4×4 grid
    expect(describePriorBias(prior(values, 4, 4)).border).toBe(0);
    values[0] = 1; // (0,0), on the ring
    expect(describePriorBias(prior(values, 4, 4)).border).toBeCloseTo(0.5, 12);
    expect(describePriorBias(prior(values, 4, 4)).uniformBorder).toBeCloseTo(12 / 16, 12);
  });

  it('rejects an all-zero or malformed prior, naming the field', () => {
    expect(() => describePriorBias(prior([0, 0, 0, 0], 2, 2))).toThrow(ValidationError);
    expect(() => describePriorBias(prior([0, 0, 0, 0], 2, 2))).toThrow(/prior\.values/);
    expect(() => describePriorBias(prior([1, 2, 3], 2, 2))).toThrow(/prior\.values/);
  });
});

describe('formatPriorBias', () => {
  it('writes rounded percentages in one line', () => {
    expect(formatPriorBias({ bottomHalf: 0.614, rightHalf: 0.605, border: 0.081, uniformBorder: 92 / 576, top10: 0.456 })).toBe(
      'bottom half 61%, right half 61%, border ring 8% (16% if uniform), top 10% of positions 46%',
    );
  });
});
