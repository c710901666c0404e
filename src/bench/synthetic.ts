import { mulberry32 } from '../core/random.js';
import type { SelectionInput } from '../core/types.js';

/** How synthetic features are drawn. */
export type FeatureKind =
  /** Independent standard normal entries: nearly orthogonal tokens, so D2Pruner's graph has no edges. */
  | 'random'
  /**
   * Tokens drawn around a few shared directions, with neighbouring grid cells sharing one, as real
   * patch features do: many pairs exceed cosine 0.8, so the graph has many edges to walk.
   */
  | 'clustered';

export interface SyntheticOptions {
  tokens: number;
  dim: number;
  budget: number;
  seed?: number;
  kind?: FeatureKind;
}

/** A seeded synthetic selection input (features, positive importance and prior, square-ish grid). */
export function syntheticInput({ tokens, dim, budget, seed = 0, kind = 'random' }: SyntheticOptions): Required<
  Pick<SelectionInput, 'features' | 'importance' | 'prior' | 'budget'>
> & { dims: [number, number] } {
  const next = mulberry32(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  const features = new Float32Array(tokens * dim);
  if (kind === 'random') {
    for (let k = 0; k < features.length; k++) features[k] = normal();
  } else {
    const clusters = 24;
    const centres = new Float32Array(clusters * dim);
    for (let k = 0; k < centres.length; k++) centres[k] = normal();
    const side = Math.ceil(Math.sqrt(tokens));
    for (let i = 0; i < tokens; i++) {
      // Blocks of 4×4 neighbouring cells share a centre; noise keeps pairwise cosines around 0.7–0.95.
      const block = Math.floor(Math.floor(i / side) / 4) * Math.ceil(side / 4) + Math.floor((i % side) / 4);
      const centre = (block * 7919) % clusters;
      const noise = 0.25 + 0.35 * next();
      for (let d = 0; d < dim; d++) features[i * dim + d] = centres[centre * dim + d] + noise * normal();
    }
  }
  const importance = new Float32Array(tokens);
  const prior = new Float32Array(tokens);
  for (let i = 0; i < tokens; i++) {
    importance[i] = Math.exp(2 * normal()) / tokens;
    prior[i] = (0.5 + next()) / tokens;
  }
  return { features, dims: [tokens, dim], importance, prior, budget };
}
