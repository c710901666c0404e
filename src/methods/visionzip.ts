import { topIndices } from '../core/order.js';
import { DROPPED, selectionFromRoles } from '../core/result.js';
import { rowCosine, rowNorms } from '../core/similarity.js';
import { Role, type PreparedInput, type Selection } from '../core/types.js';
import { NO_OPTIONS, type MethodDefinition, type NoOptions } from './method.js';

/** VisionZip's split of a 64-token budget: 54 dominant, 10 contextual. */
const DOMINANT_SHARE = 54 / 64;

/**
 * VisionZip: the round(54/64·n) most important tokens are kept as they are (dominant); the rest are merged
 * into n − dominant contextual tokens. Targets are every k-th remaining token, each other token joins its
 * most cosine-similar target (ties to the lower target), and a contextual token's feature is the target's
 * feature plus the mean of the non-targets assigned to it (just the target's feature when none is), as
 * VisionZip's code computes it: `contextual_tokens = target_hidden + aggregated_hidden`, with the count
 * clamped to ≥ 1. Dominant tokens keep their own features. Returns the merged features (n×D, parallel to
 * `keep`).
 */
function runVisionZip(input: PreparedInput): Selection {
  const { features, tokens, dim, budget } = input;
  const importance = input.importance!;
  const dominantCount = Math.round(DOMINANT_SHARE * budget);
  const tokenRoles = new Uint8Array(tokens).fill(DROPPED);
  for (const i of topIndices(importance, dominantCount)) tokenRoles[i] = Role.mis;

  const rest: number[] = [];
  for (let i = 0; i < tokens; i++) if (tokenRoles[i] === DROPPED) rest.push(i);
  const contextualCount = budget - dominantCount;
  const targets: number[] = [];
  if (contextualCount > 0) {
    const step = Math.floor(rest.length / contextualCount);
    for (let t = 0; t < contextualCount; t++) targets.push(rest[t * step]);
  }
  for (const target of targets) tokenRoles[target] = Role.mis;

  // One running sum per contextual target over the non-targets assigned to it (the target itself is not in it).
  const slot = new Int32Array(tokens).fill(-1);
  targets.forEach((target, t) => (slot[target] = t));
  const sums = new Float64Array(targets.length * dim);
  const groupSize = new Int32Array(targets.length);
  const addTo = (group: number, token: number) => {
    for (let d = 0; d < dim; d++) sums[group * dim + d] += features[token * dim + d];
    groupSize[group]++;
  };
  if (targets.length > 0) {
    const norms = input.norms ?? rowNorms(features, tokens, dim);
    for (const token of rest) {
      if (slot[token] !== -1) continue;
      let best = 0;
      let bestSimilarity = -Infinity;
      targets.forEach((target, t) => {
        const similarity = rowCosine(features, dim, norms, token, target);
        if (similarity > bestSimilarity) {
          best = t;
          bestSimilarity = similarity;
        }
      });
      addTo(best, token);
    }
  }

  const selection = selectionFromRoles(tokenRoles, { scores: Float32Array.from(importance) });
  const out = new Float32Array(budget * dim);
  selection.keep.forEach((token, k) => {
    for (let d = 0; d < dim; d++) {
      const group = slot[token];
      const own = features[token * dim + d];
      out[k * dim + d] = group >= 0 ? own + sums[group * dim + d] / Math.max(1, groupSize[group]) : own;
    }
  });
  return { ...selection, features: out };
}

export const visionzip: MethodDefinition<NoOptions> = {
  name: 'visionzip',
  summary: 'dominant tokens by importance + contextual tokens merged by similarity (returns merged features)',
  paper: 'VisionZip, Yang et al., CVPR 2025 (arXiv 2412.04467)',
  defaults: NO_OPTIONS,
  schema: {},
  needs: () => ({ importance: true, grid: false, norms: true }),
  run: runVisionZip,
};
