import { describe, expect, it } from 'vitest';
import { lastTokenAttention } from '../../src/importance/attention.js';

describe('lastTokenAttention', () => {
  it('passes a [B, L] row through, clipping negatives at 0', () => {
    expect(Array.from(lastTokenAttention([0.5, -1, 2, 1, 0, 3], [2, 3], 2, 3))).toEqual([0.5, 0, 2, 1, 0, 3]);
  });

  it('averages heads of [B, H, L]', () => {
    expect(Array.from(lastTokenAttention([1, 2, 3, 3, 2, 1], [1, 2, 3], 1, 3))).toEqual([2, 2, 2]);
  });

  it('uses the last query row of [B, H, Lq, L] per batch row', () => {
    // B = 2, H = 1, Lq = 2, L = 2: rows [[9, 9], [1, 2]] and [[9, 9], [3, 4]]
    expect(Array.from(lastTokenAttention([9, 9, 1, 2, 9, 9, 3, 4], [2, 1, 2, 2], 2, 2))).toEqual([1, 2, 3, 4]);
  });

  it('rejects a shape that does not match the batch or the sequence', () => {
    expect(() => lastTokenAttention(new Float32Array(6), [1, 6], 1, 5)).toThrow(/\[1, 6\].*L = 5/);
    expect(() => lastTokenAttention(new Float32Array(6), [2, 3], 1, 3)).toThrow(/shape/);
    expect(() => lastTokenAttention(new Float32Array(6), [6], 1, 6)).toThrow(/shape/);
  });
});
