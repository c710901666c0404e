import type { Grid } from '../core/types.js';

/** What an importance provider sees for one image of one prompt. */
export interface ImportanceContext {
  /** Prompt row in the batch (0 for a single prompt). */
  row: number;
  /** Index of the image in the prompt (0-based, in sequence order). */
  image: number;
  /**
   * The image's visual-token features as they enter the language model (projector output), N×D row-major.
   * Read-only: usually a view of the model's merged embeddings, so writing to it would change the prompt.
   */
  features: Float32Array;
  /** [N, D]. */
  dims: readonly [number, number];
  /** The prompt's own text-token embeddings (template and special tokens excluded), T×D row-major. Read-only. */
  textEmbeddings: Float32Array;
  /** [T, D]. */
  textDims: readonly [number, number];
  /** Token ids of the prompt row (the whole sequence, image tokens included). */
  inputIds: BigInt64Array;
  /** Sequence index of each of the image's N visual tokens. */
  tokenPositions: Int32Array;
  /** Sequence indices whose embeddings make up `textEmbeddings`. */
  textPositions: Int32Array;
  /** The image's 2-D token layout, when known. */
  grid?: Grid;
  /** `config.model_type` of the host model. */
  modelType: string;
}

/** A user-supplied importance function: one non-negative value per visual token (length N). */
export type ImportanceCallback = (ctx: ImportanceContext) => Float32Array | Promise<Float32Array>;

/** Built-in provider names. */
export type ImportanceName = 'promptRelevance' | 'attention';
