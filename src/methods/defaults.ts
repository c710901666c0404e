/**
 * Default options of every method, in one place (ALGORITHM.md). All frozen; `select()` merges user options
 * over these.
 */

/** Spatial term of D2Pruner's hybrid graph. */
export type SpatialKernel =
  /** 1 when two tokens lie in the same tile within Chebyshev distance `radius`, else 0. */
  | { kind: 'window'; radius: number }
  /** exp(−(Δrow² + Δcol²) / (2σ²)) in the same tile, else 0. */
  | { kind: 'gaussian'; sigma: number };

export interface D2PrunerOptions {
  /** Share of the budget taken as pivots, r: floor(r·n) pivots. Default 0.7. */
  pivotRatio: number;
  /** Edge threshold θ on the fused similarity (strict >). Default 0.8. */
  threshold: number;
  /** Semantic weight α in S = α·cosine + (1 − α)·spatial. Default 1.0 (the paper uses 0.5 for grounding). */
  alpha: number;
  /** Spatial term. Default `{ kind: 'window', radius: 2 }`. Used only when alpha < 1. */
  spatial: SpatialKernel;
  /** ε in s = a / (p + ε). Default 1e-7. */
  epsilon: number;
}

export interface RandomOptions {
  /** Seed of the generator; same seed, same result. Default 0. */
  seed: number;
}

export interface DartOptions {
  /** Number of pivot tokens (largest L1 feature norm), capped at the budget. Default 8. */
  pivots: number;
}

export interface CdprunerOptions {
  /** θ_c in (0, 1): weight w = exp(θ_c·q / (2(1 − θ_c))); undefined (default) uses w = q. */
  theta: number | undefined;
}

/** Methods without options. */
export type NoOptions = Record<never, never>;

export const D2PRUNER_DEFAULTS: Readonly<D2PrunerOptions> = Object.freeze({
  pivotRatio: 0.7,
  threshold: 0.8,
  alpha: 1.0,
  spatial: Object.freeze({ kind: 'window', radius: 2 }) as SpatialKernel,
  epsilon: 1e-7,
});
export const RANDOM_DEFAULTS: Readonly<RandomOptions> = Object.freeze({ seed: 0 });
export const DART_DEFAULTS: Readonly<DartOptions> = Object.freeze({ pivots: 8 });
export const CDPRUNER_DEFAULTS: Readonly<CdprunerOptions> = Object.freeze({ theta: undefined });
export const NO_OPTIONS: Readonly<NoOptions> = Object.freeze({});
