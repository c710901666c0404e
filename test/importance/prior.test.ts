import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/core/errors.js';
import { parsePrior, priorForLayout, resizeBilinear, stringifyPrior, validatePrior } from '../../src/importance/prior.js';
import { makePrior } from './prior-fixture.js';

const prior = makePrior;

describe('resizeBilinear', () => {
  it('returns the same values on the same grid', () => {
    expect(Array.from(resizeBilinear([1, 2, 3, 4], { rows: 2, cols: 2 }, { rows: 2, cols: 2 }))).toEqual([1, 2, 3, 4]);
  });

  it('interpolates between pixel centres when upsampling 1×2 to 1×4', () => {
    // centres of the 4 outputs map to x = −0.25, 0.25, 0.75, 1.25 → clamped to [0, 1]
    expect(Array.from(resizeBilinear([0, 4], { rows: 1, cols: 2 }, { rows: 1, cols: 4 }))).toEqual([0, 1, 3, 4]);
  });

  it('averages 2×2 blocks when downsampling 4×4 to 2×2', () => {
    const values = Array.from({ length: 16 }, (_, i) => i);
    expect(Array.from(resizeBilinear(values, { rows: 4, cols: 4 }, { rows: 2, cols: 2 }))).toEqual([2.5, 4.5, 10.5, 12.5]);
  });

  it('keeps a constant prior constant on any grid', () => {
    const out = resizeBilinear(new Array(24 * 24).fill(0.5), { rows: 24, cols: 24 }, { rows: 13, cols: 29 });
    expect(out.length).toBe(13 * 29);
    expect(out.every((v) => Math.abs(v - 0.5) < 1e-7)).toBe(true);
  });
});

describe('validatePrior', () => {
  it('rejects a prior whose values do not fill its grid, naming the field', () => {
    expect(() => validatePrior(prior([1, 2, 3], 2, 2))).toThrow(ValidationError);
    expect(() => validatePrior(prior([1, 2, 3], 2, 2))).toThrow(/prior\.values.*2·2 = 4/);
  });

  it('rejects negative or non-finite values and bad grids', () => {
    expect(() => validatePrior(prior([1, -1, 1, 1], 2, 2))).toThrow(/prior\.values\[1\]/);
    expect(() => validatePrior(prior([1, NaN, 1, 1], 2, 2))).toThrow(/prior\.values\[1\]/);
    expect(() => validatePrior(prior([1], 0, 1))).toThrow(/prior\.grid/);
    expect(() => validatePrior(null)).toThrow(/prior/);
  });

  it('round-trips through JSON', () => {
    const p = prior([0.25, 0.5, 1, 2], 2, 2);
    const back = parsePrior(stringifyPrior(p));
    expect(Array.from(back.values)).toEqual([0.25, 0.5, 1, 2]);
    expect(back).toMatchObject({ grid: { rows: 2, cols: 2 }, provider: 'promptRelevance', imageCount: 3, modelId: 'fixture' });
    expect(() => parsePrior('{ nope')).toThrow(ValidationError);
  });
});

describe('priorForLayout', () => {
  it('resizes the prior onto every tile and gives tokens outside tiles the mean', () => {
    const p = prior([1, 3], 1, 2);
    const out = priorForLayout(p, {
      tokens: 7,
      tiles: [
        { start: 1, rows: 1, cols: 2 },
        { start: 3, rows: 1, cols: 4 },
      ],
    });
    expect(Array.from(out)).toEqual([2, 1, 3, 1, 1.5, 2.5, 3]);
  });
});
