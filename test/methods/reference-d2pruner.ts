/**
 * A deliberately simple D2Pruner, written straight from ALGORITHM.md: float64 everywhere, the full fused
 * similarity matrix up front, and the eager ("push") form of the greedy walk. The fast implementation must
 * give exactly the same kept set and roles.
 */
export interface ReferenceCase {
  features: ArrayLike<number>;
  tokens: number;
  dim: number;
  importance: ArrayLike<number>;
  prior?: ArrayLike<number>;
  /** tile id, row, col per token (tile −1 = no position) */
  positions?: { tile: number[]; row: number[]; col: number[] };
  budget: number;
  pivotRatio: number;
  threshold: number;
  alpha: number;
  spatial: { kind: 'window'; radius: number } | { kind: 'gaussian'; sigma: number };
  epsilon: number;
}

export function referenceD2Pruner(c: ReferenceCase): { keep: number[]; roles: number[] } {
  const N = c.tokens;
  const score = (i: number) => (c.prior ? c.importance[i] / (c.prior[i] + c.epsilon) : c.importance[i]);
  const order = [...Array(N).keys()].sort((a, b) => score(b) - score(a) || a - b);
  const norm = (i: number) => {
    let s = 0;
    for (let d = 0; d < c.dim; d++) s += c.features[i * c.dim + d] ** 2;
    return Math.sqrt(s);
  };
  const cosine = (i: number, j: number) => {
    const n = norm(i) * norm(j);
    if (n === 0) return 0;
    let s = 0;
    for (let d = 0; d < c.dim; d++) s += c.features[i * c.dim + d] * c.features[j * c.dim + d];
    return s / n;
  };
  const spatial = (i: number, j: number) => {
    const p = c.positions!;
    if (p.tile[i] < 0 || p.tile[i] !== p.tile[j]) return 0;
    const dr = p.row[i] - p.row[j];
    const dc = p.col[i] - p.col[j];
    if (c.spatial.kind === 'window') return Math.max(Math.abs(dr), Math.abs(dc)) <= c.spatial.radius ? 1 : 0;
    return Math.exp(-(dr * dr + dc * dc) / (2 * c.spatial.sigma ** 2));
  };
  const S: number[][] = [];
  for (let i = 0; i < N; i++) {
    S.push([]);
    for (let j = 0; j < N; j++) {
      S[i].push(c.alpha < 1 ? c.alpha * cosine(i, j) + (1 - c.alpha) * spatial(i, j) : cosine(i, j));
    }
  }
  const role = new Map<number, number>();
  const pivotCount = Math.floor(c.pivotRatio * c.budget);
  order.slice(0, pivotCount).forEach((i) => role.set(i, 0));
  const rest = order.slice(pivotCount);
  const available = new Set(rest);
  let chosen = 0;
  for (let r = 0; r < rest.length && chosen < c.budget - pivotCount; r++) {
    const i = rest[r];
    if (!available.has(i)) continue;
    role.set(i, 1);
    chosen++;
    for (let q = r + 1; q < rest.length; q++) if (S[i][rest[q]] > c.threshold) available.delete(rest[q]);
  }
  for (const i of rest) {
    if (chosen >= c.budget - pivotCount) break;
    if (role.has(i)) continue;
    role.set(i, 2);
    chosen++;
  }
  const keep = [...role.keys()].sort((a, b) => a - b);
  return { keep, roles: keep.map((i) => role.get(i)!) };
}
