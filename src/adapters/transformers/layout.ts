import type { Grid } from '../../core/types.js';

/** Square grid for N tokens when N is a perfect square; `N − extra` square with `extra` leading tokens. */
export function squareLayout(tokens: number): { grid?: Grid; layout: { tokens: number; tiles: { start: number; rows: number; cols: number }[] } } {
  const side = Math.round(Math.sqrt(tokens));
  if (side * side === tokens) {
    return { grid: { rows: side, cols: side }, layout: { tokens, tiles: [{ start: 0, rows: side, cols: side }] } };
  }
  const inner = Math.round(Math.sqrt(tokens - 1));
  if (tokens > 1 && inner * inner === tokens - 1) {
    const tiles = [{ start: 1, rows: inner, cols: inner }];
    return { grid: { tiles }, layout: { tokens, tiles } };
  }
  return { layout: { tokens, tiles: [] } };
}

/** Maximal runs of `tokenId` in a row: [start, end) pairs. */
export function tokenRuns(row: BigInt64Array, tokenId: bigint): [number, number][] {
  const runs: [number, number][] = [];
  let start = -1;
  for (let j = 0; j <= row.length; j++) {
    const hit = j < row.length && row[j] === tokenId;
    if (hit && start < 0) start = j;
    else if (!hit && start >= 0) {
      runs.push([start, j]);
      start = -1;
    }
  }
  return runs;
}

/** Int32Array [start, start+1, …, end−1]. */
export function range(start: number, end: number): Int32Array {
  return Int32Array.from({ length: end - start }, (_, i) => start + i);
}
