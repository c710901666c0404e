/**
 * Indices 0…N−1 ordered by `values` descending; equal values keep the lower index first (the contract's
 * tie rule for every argmax and top-k).
 */
export function orderByDescending(values: ArrayLike<number>): Int32Array {
  const order = new Int32Array(values.length);
  for (let i = 0; i < order.length; i++) order[i] = i;
  order.sort((a, b) => values[b] - values[a] || a - b);
  return order;
}

/** The `count` largest entries of `values` (ties by lower index), as indices in rank order. */
export function topIndices(values: ArrayLike<number>, count: number): Int32Array {
  return orderByDescending(values).subarray(0, count);
}

/** Index of the largest value among `candidates` (ties by lower index); −1 when no candidate is allowed. */
export function argmax(values: ArrayLike<number>, allowed?: (index: number) => boolean): number {
  let best = -1;
  let bestValue = -Infinity;
  for (let i = 0; i < values.length; i++) {
    if (allowed && !allowed(i)) continue;
    if (best === -1 || values[i] > bestValue) {
      best = i;
      bestValue = values[i];
    }
  }
  return best;
}
