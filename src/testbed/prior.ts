/**
 * Positional prior for pruning at layer K (`mode: 'layer'`): the mean attention of the last prompt token at
 * layer K−1 on each visual token, over calibration images with one generic prompt (the paper's debiasing
 * signal, measured where the selection reads it). The input-mode prior comes from `d2pruner calibrate`.
 */
import { ValidationError } from '../core/errors.js';
import type { PositionalPrior } from '../importance/prior.js';
import type { SplitDecoderModel } from './split-decoder.js';

/** One calibration prompt: the processor's `input_ids` row and `pixel_values`. */
export interface CalibrationInput {
  inputIds: ArrayLike<number | bigint>;
  pixelValues: { data: ArrayLike<number>; dims: readonly number[] };
}

/**
 * Averages the layer-K−1 attention per grid position over `inputs`.
 * @throws ValidationError when there are no inputs.
 */
export async function calibrateLayerPrior(
  split: SplitDecoderModel,
  inputs: Iterable<CalibrationInput> | AsyncIterable<CalibrationInput>,
  meta: { prompt: string; modelId: string; onProgress?: (done: number) => void },
): Promise<PositionalPrior> {
  const { rows, cols } = split.config.grid;
  const sum = new Float64Array(rows * cols);
  let count = 0;
  for await (const input of inputs) {
    const state = await split.prefill(input.inputIds, input.pixelValues);
    if (state.importance.length !== sum.length) {
      throw new ValidationError('inputs', state.importance.length, `each image must have ${rows}×${cols} visual tokens`);
    }
    for (let i = 0; i < sum.length; i++) sum[i]! += state.importance[i]!;
    count++;
    meta.onProgress?.(count);
  }
  if (count === 0) throw new ValidationError('inputs', 0, 'at least one calibration image is needed');
  return {
    values: Float32Array.from(sum, (v) => v / count),
    grid: { rows, cols },
    provider: `attention@layer${split.config.splitLayer - 1}`,
    prompt: meta.prompt,
    imageCount: count,
    modelId: meta.modelId,
  };
}
