/**
 * Importance providers behind one interface: the model adapters build one per prefill and ask it for each
 * image's raw importance. Pure (no host library): where the importance comes from a model run (exported
 * attention, the prefix of a layer-K split), the adapter runs it and hands the provider the resulting row.
 */
import { ValidationError } from '../core/errors.js';
import { promptRelevance } from './promptRelevance.js';
import type { ImportanceCallback, ImportanceContext } from './types.js';

export interface ImportanceProvider {
  /** What the importance is, for reports. */
  readonly kind: 'promptRelevance' | 'attention' | 'callback';
  /** Whether `score` reads `ctx.textEmbeddings` (the adapter gathers them only then). */
  readonly readsText: boolean;
  /** One raw importance value per visual token of `ctx`'s image (length N). */
  score(ctx: ImportanceContext): Float32Array | Promise<Float32Array>;
}

/** Prompt relevance ({@link promptRelevance}): cosine of each visual token with the prompt's text tokens. */
export const promptRelevanceProvider: ImportanceProvider = Object.freeze({
  kind: 'promptRelevance' as const,
  readsText: true,
  score: (ctx: ImportanceContext) => promptRelevance(ctx),
});

/** A user callback; its result is checked by {@link scoreImage}. */
export function callbackProvider(callback: ImportanceCallback): ImportanceProvider {
  return { kind: 'callback', readsText: true, score: callback };
}

/**
 * Attention of the last prompt token over the whole sequence, one row of `length` values per prompt row
 * (B·L row-major): an image's importance is the row at its tokens' positions, clipped at 0.
 */
export function attentionRowProvider(rows: ArrayLike<number>, length: number): ImportanceProvider {
  return {
    kind: 'attention',
    readsText: false,
    score: (ctx) => Float32Array.from(ctx.tokenPositions, (p) => Math.max(0, rows[ctx.row * length + p]!)),
  };
}

/**
 * Scores one image and checks what came back (a callback may return anything).
 * @throws ValidationError (field `importance`) unless it is a Float32Array of the image's token count.
 */
export async function scoreImage(provider: ImportanceProvider, ctx: ImportanceContext): Promise<Float32Array> {
  const importance = await provider.score(ctx);
  const tokens = ctx.dims[0];
  if (!(importance instanceof Float32Array) || importance.length !== tokens) {
    throw new ValidationError('importance', importance, `must return a Float32Array of length ${tokens} (row ${ctx.row}, image ${ctx.image})`);
  }
  return importance;
}
