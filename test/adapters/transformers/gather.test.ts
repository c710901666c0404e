import { describe, expect, it } from 'vitest';
import { cumsumPositions, gatherKept, rowsOf } from '../../../src/adapters/transformers/gather.js';

/** Embeddings whose value encodes (row, position, dim) so every copied row can be checked. */
function embeddings(batch: number, length: number, hidden: number): Float32Array {
  const data = new Float32Array(batch * length * hidden);
  for (let b = 0; b < batch; b++) for (let p = 0; p < length; p++) for (let d = 0; d < hidden; d++) data[(b * length + p) * hidden + d] = 100 * b + 10 * p + d;
  return data;
}

describe('gatherKept (the pure gather step of a pruned prefill)', () => {
  it('copies the kept rows, their mask and original positions, and the decode shift', () => {
    const out = gatherKept({
      batch: 1,
      length: 6,
      hidden: 2,
      keptRows: [[0, 2, 5]],
      embeddings: embeddings(1, 6, 2),
      mask: [1n, 1n, 1n, 1n, 1n, 1n],
      positions: [[0n, 1n, 2n, 3n, 4n, 5n]],
      numbering: 'original',
    });
    expect(out.length).toBe(3);
    expect(Array.from(out.embeddings)).toEqual([0, 1, 20, 21, 50, 51]);
    expect(Array.from(out.mask)).toEqual([1n, 1n, 1n]);
    expect(Array.from(out.positions)).toEqual([0n, 2n, 5n]);
    // The next token sits at position 6 = L′ (3) + delta.
    expect(out.delta).toEqual([3n]);
  });

  it('left-pads shorter rows with masked slots and renumbers compactly when asked', () => {
    const out = gatherKept({
      batch: 2,
      length: 4,
      hidden: 1,
      keptRows: [[0, 1, 3], [2]],
      embeddings: embeddings(2, 4, 1),
      mask: [1n, 1n, 1n, 1n, 0n, 1n, 1n, 1n],
      positions: [[0n, 1n, 2n, 3n, 1n, 0n, 1n, 2n]],
      numbering: 'compact',
    });
    expect(out.length).toBe(3);
    expect(Array.from(out.embeddings)).toEqual([0, 10, 30, 0, 0, 120]);
    expect(Array.from(out.mask)).toEqual([1n, 1n, 1n, 0n, 0n, 1n]);
    expect(Array.from(out.positions)).toEqual([0n, 1n, 2n, 1n, 1n, 0n]);
    expect(out.delta).toEqual([0n, -2n]);
  });

  it('keeps every M-RoPE axis and uses replacement rows for merged tokens', () => {
    const out = gatherKept({
      batch: 1,
      length: 3,
      hidden: 2,
      keptRows: [[1, 2]],
      embeddings: embeddings(1, 3, 2),
      replacements: new Map([[2, Float32Array.from([7, 8])]]),
      mask: [1n, 1n, 1n],
      positions: [
        [0n, 1n, 1n],
        [0n, 1n, 2n],
        [0n, 3n, 4n],
      ],
      numbering: 'original',
    });
    expect(Array.from(out.embeddings)).toEqual([10, 11, 7, 8]);
    expect(Array.from(out.positions)).toEqual([1n, 1n, 1n, 2n, 3n, 4n]);
    // The largest kept position on any axis is 4, so decoding continues at 5 = L′ (2) + 3.
    expect(out.delta).toEqual([3n]);
  });

  it('keeps the element type of half-precision storage', () => {
    const storage = Uint16Array.from([1, 2, 3, 4]);
    const out = gatherKept({ batch: 1, length: 2, hidden: 2, keptRows: [[1]], embeddings: storage, mask: [1n, 1n], positions: [[0n, 1n]], numbering: 'original' });
    expect(out.embeddings).toBeInstanceOf(Uint16Array);
    expect(Array.from(out.embeddings)).toEqual([3, 4]);
  });

  it('numbers masked slots 1, as transformers.js does', () => {
    expect(Array.from(cumsumPositions([0n, 0n, 1n, 1n, 1n], 0, 5))).toEqual([1n, 1n, 0n, 1n, 2n]);
  });
});

describe('rowsOf (image features and prompt text for importance and selection)', () => {
  const matrix = Float32Array.from({ length: 2 * 5 * 3 }, (_, k) => k); // 2 rows of a batch × 5 positions × width 3
  it('is a view of the matrix when the positions are consecutive', () => {
    const rows = rowsOf(matrix, 3, 5, Int32Array.from([1, 2, 3]));
    expect(Array.from(rows)).toEqual([18, 19, 20, 21, 22, 23, 24, 25, 26]);
    expect(rows.buffer).toBe(matrix.buffer);
  });
  it('copies, in order, when they are not', () => {
    const rows = rowsOf(matrix, 3, 0, Int32Array.from([4, 0]));
    expect(Array.from(rows)).toEqual([12, 13, 14, 0, 1, 2]);
    expect(rows.buffer).not.toBe(matrix.buffer);
    expect(rowsOf(matrix, 3, 0, new Int32Array(0)).length).toBe(0);
  });
});
