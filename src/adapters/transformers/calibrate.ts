import { ValidationError } from '../../core/errors.js';
import { resizeBilinear, type GridShape, type PositionalPrior } from '../../importance/prior.js';
import type { ImportanceCallback } from '../../importance/types.js';
import { familyOf } from './families.js';
import { resolveImportance } from './options.js';
import { scorePrefill } from './prefill.js';
import { wrapModel } from './pruning.js';
import { resolveLayer } from './layer-split.js';
import type { TokenizerLike, VisionLanguageModelLike } from './types.js';

/** Options of {@link calibratePrior}. */
export interface CalibrateOptions {
  /** The generic prompt the inputs were built with (recorded in the prior). */
  prompt: string;
  /** Model folder or hub id (recorded in the prior). */
  modelId: string;
  /** Importance provider to average. Default `'promptRelevance'` (`'attention'` at layer K−1 with `layer`). */
  importance?: 'promptRelevance' | 'attention' | ImportanceCallback;
  /**
   * Decoder layer K the prior is for (`withTokenPruning({ layer: K })`): the importance averaged is the last
   * prompt token's head-averaged attention at layer K−1, read from the automatically split decoder. Default 0
   * (the importance at the decoder input).
   */
  layer?: number;
  /** With `layer`: the decoder's ModelProto bytes or (Node) the path of its `.onnx` file, to split. */
  decoder?: Uint8Array | string;
  /** Name recorded for a callback provider. Default `'callback'`. */
  providerName?: string;
  /** Tokenizer or processor whose special and chat-template tokens prompt relevance ignores. */
  tokenizer?: TokenizerLike;
  excludeTokenIds?: Iterable<number>;
  attentionOutput?: string;
  /** Grid of the prior. Default: the first tile of the first image (e.g. 24×24 for LLaVA-1.5). */
  grid?: GridShape;
  /** Called after each prompt with the number done. */
  onProgress?: (done: number) => void;
}

/**
 * Records a positional prior: runs the unpruned model's embeddings and vision encoder (and the decoder for
 * `attention`) over calibration prompts built with one generic prompt, and averages the provider's raw
 * importance per grid position. Every tile of every image (a whole image for LLaVA and Qwen, each split tile
 * and the global view for SmolVLM) is resized bilinearly to the prior's grid before averaging, so images
 * with different grids (Qwen) contribute to one prior.
 *
 * @param model a loaded model of a supported type (not a pruned wrapper).
 * @param inputs processor outputs, one prompt (batch size 1) each, with one or more images.
 * @throws ValidationError for an unsupported model, bad options, a prompt without images, or no inputs.
 */
export async function calibratePrior(
  model: object,
  inputs: Iterable<Record<string, unknown>> | AsyncIterable<Record<string, unknown>>,
  options: CalibrateOptions,
): Promise<PositionalPrior> {
  if (model === null || (typeof model !== 'object' && typeof model !== 'function')) throw new ValidationError('model', model, 'must be a loaded transformers.js model');
  const iterable = inputs as unknown as Record<symbol, unknown> | null;
  if (iterable === null || typeof iterable !== 'object' || (typeof iterable[Symbol.iterator] !== 'function' && typeof iterable[Symbol.asyncIterator] !== 'function')) {
    throw new ValidationError('inputs', inputs, 'must be an iterable or async iterable of processor outputs');
  }
  if (options === null || typeof options !== 'object') throw new ValidationError('options', options, 'must be an object { prompt, … }');
  const host = model as VisionLanguageModelLike;
  const family = familyOf(model);
  const layer = resolveLayer(options);
  const importanceOptions = resolveImportance(host, layer > 0 ? { ...options, importance: undefined } : options);
  // Layer K: the prefix's attention row, through the pruned wrapper (budget 1: the suffix runs on one token).
  const atLayer = layer > 0 ? (wrapModel(host, family, { method: 'fastv', budget: 1, layer, decoder: options.decoder }) as unknown as VisionLanguageModelLike & { lastPruning: { images: { importance: Float32Array }[] } | null }) : null;
  let grid = options.grid;
  if (grid && (!Number.isInteger(grid.rows) || !Number.isInteger(grid.cols) || grid.rows < 1 || grid.cols < 1)) {
    throw new ValidationError('grid', grid, 'must be { rows, cols } with positive integers');
  }
  let sum: Float64Array | null = grid ? new Float64Array(grid.rows * grid.cols) : null;
  let tiles = 0;
  let done = 0;
  for await (const modelInputs of inputs) {
    if (modelInputs === null || typeof modelInputs !== 'object') throw new ValidationError('inputs', modelInputs, `entry ${done} must be processor outputs (an object)`);
    const inputIds = modelInputs.input_ids as { dims: number[]; data: BigInt64Array } | undefined;
    if (!inputIds || inputIds.dims[0] !== 1) {
      throw new ValidationError('inputs', inputIds?.dims, 'each calibration input must be one prompt (batch size 1)');
    }
    const images = family.locateImages(host, inputIds.data, modelInputs);
    if (images.length === 0) throw new ValidationError('inputs', done, 'a calibration prompt holds no image tokens');
    let importances: Float32Array[];
    if (atLayer) {
      await atLayer.forward({ ...modelInputs });
      importances = atLayer.lastPruning!.images.map((picture) => picture.importance);
    } else {
      importances = (await scorePrefill(host, family, importanceOptions, host.forward, modelInputs, [images])).importances[0]!;
    }
    images.forEach((image, i) => {
      const importance = importances[i]!;
      if (image.layout.tiles.length === 0) {
        throw new ValidationError('inputs', image.positions.length, 'the visual tokens of this model have no 2-D grid to calibrate on');
      }
      for (const tile of image.layout.tiles) {
        if (!grid) grid = { rows: tile.rows, cols: tile.cols };
        sum ??= new Float64Array(grid.rows * grid.cols);
        const values = importance.subarray(tile.start, tile.start + tile.rows * tile.cols);
        const resized = resizeBilinear(values, tile, grid);
        for (let k = 0; k < resized.length; k++) sum[k]! += resized[k]!;
        tiles++;
      }
    });
    done++;
    options.onProgress?.(done);
  }
  if (!sum || !grid || tiles === 0) throw new ValidationError('inputs', done, 'calibration needs at least one image');
  const values = Float32Array.from(sum, (v) => v / tiles);
  const provider =
    layer > 0 ? `attention@layer${layer - 1}` : typeof options.importance === 'function' ? (options.providerName ?? 'callback') : (options.importance ?? 'promptRelevance');
  return { values, grid, provider, prompt: options.prompt, imageCount: done, modelId: options.modelId };
}
