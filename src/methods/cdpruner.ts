import { numberIn, type OptionCheck } from '../core/options.js';
import { orderByDescending } from '../core/order.js';
import { DROPPED, selectionFromRoles } from '../core/result.js';
import { cosineRow, rowNorms } from '../core/similarity.js';
import { Role, type PreparedInput, type Selection } from '../core/types.js';
import type { MethodDefinition } from './method.js';

export interface CdprunerOptions {
  /** θ_c in (0, 1): weight w = exp(θ_c·q / (2(1 − θ_c))); undefined (default) uses w = q. */
  theta: number | undefined;
}

export const CDPRUNER_DEFAULTS: Readonly<CdprunerOptions> = Object.freeze({ theta: undefined });

const RESIDUAL_FLOOR = 1e-10;

/**
 * CDPruner: greedy MAP of a conditional DPP with kernel L_ij = w_i·cosine(f_i, f_j)·w_j, by the fast
 * incremental-Cholesky algorithm (Chen et al., 2018), in float64. Only the kernel rows of picked tokens are
 * computed. When the largest residual falls to 1e-10 before n picks, the rest are filled by w descending
 * (role `fill`).
 */
function runCdpruner(input: PreparedInput, options: CdprunerOptions): Selection {
  const { features, tokens, dim, budget } = input;
  const importance = input.importance!;
  let low = Infinity;
  let high = -Infinity;
  for (const a of importance) {
    if (a < low) low = a;
    if (a > high) high = a;
  }
  const weight = new Float64Array(tokens);
  for (let i = 0; i < tokens; i++) {
    const relevance = high === low ? 1 : (importance[i] - low + 1e-6) / (high - low);
    weight[i] = options.theta === undefined ? relevance : Math.exp((options.theta * relevance) / (2 * (1 - options.theta)));
  }
  const norms = rowNorms(features, tokens, dim);
  const residual = new Float64Array(tokens);
  for (let i = 0; i < tokens; i++) residual[i] = norms[i] === 0 ? 0 : weight[i] * weight[i];

  const tokenRoles = new Uint8Array(tokens).fill(DROPPED);
  const cholesky: Float64Array[] = [];
  const cosine = new Float64Array(tokens);
  let picked = 0;
  while (picked < budget) {
    let best = -1;
    for (let i = 0; i < tokens; i++) {
      if (tokenRoles[i] === DROPPED && (best === -1 || residual[i] > residual[best])) best = i;
    }
    if (residual[best] <= RESIDUAL_FLOOR) break;
    tokenRoles[best] = Role.mis;
    picked++;
    if (picked === budget) break;
    const pivotScale = Math.sqrt(residual[best]);
    cosineRow(features, tokens, dim, norms, best, cosine);
    const next = new Float64Array(tokens);
    for (let i = 0; i < tokens; i++) {
      let projection = 0;
      for (const row of cholesky) projection += row[best] * row[i];
      next[i] = (weight[best] * cosine[i] * weight[i] - projection) / pivotScale;
      residual[i] -= next[i] * next[i];
    }
    cholesky.push(next);
  }
  if (picked < budget) {
    for (const i of orderByDescending(weight)) {
      if (picked === budget) break;
      if (tokenRoles[i] !== DROPPED) continue;
      tokenRoles[i] = Role.fill;
      picked++;
    }
  }
  return selectionFromRoles(tokenRoles, { scores: Float32Array.from(weight) });
}

const thetaCheck: OptionCheck<number | undefined> = (value, field) =>
  value === undefined ? undefined : numberIn({ min: 0, max: 1, exclusive: true })(value, field);

export const cdpruner: MethodDefinition<CdprunerOptions> = {
  name: 'cdpruner',
  summary: 'conditional DPP (relevance-weighted cosine kernel), greedy MAP',
  paper: 'CDPruner, Zhang et al., 2025 (arXiv 2506.10967)',
  defaults: CDPRUNER_DEFAULTS,
  schema: { theta: thetaCheck },
  needs: () => ({ importance: true, grid: false }),
  run: runCdpruner,
};
