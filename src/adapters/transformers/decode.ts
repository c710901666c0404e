/** The decoding step after a pruned prefill: attention mask and positions continuing after the kept tokens. */
import type { PrunedCacheState } from './continuation.js';
import type { FamilyAdapter, ModelInputs, TensorCtor, TensorLike } from './types.js';

/** Per-generation state, keyed by the `model_inputs` object `generate()` reuses across its steps. */
export type DecodeState = PrunedCacheState;

/** Decode step after a pruned prefill: the prefill's mask then ones, positions continuing per row. */
export function decodeInputs(
  family: FamilyAdapter,
  modelInputs: ModelInputs,
  inputIds: TensorLike,
  pastLength: number,
  state: DecodeState,
): ModelInputs {
  const Tensor = inputIds.constructor as TensorCtor;
  const [batch, newTokens] = inputIds.dims as [number, number];
  const total = pastLength + newTokens;
  const mask = new BigInt64Array(batch * total).fill(1n);
  const prefix = Math.min(state.prefillLength, total);
  for (let b = 0; b < batch; b++) mask.set(state.mask.subarray(b * state.prefillLength, b * state.prefillLength + prefix), b * total);
  // Without pixel_values transformers.js keeps this mask instead of rebuilding it as all ones (which would
  // lose the padding of shorter rows).
  const inputs: ModelInputs = { ...modelInputs, attention_mask: new Tensor('int64', mask, [batch, total]), pixel_values: undefined };
  if (!modelInputs.position_ids) {
    const axes = family.mrope ? 3 : 1;
    const data = new BigInt64Array(axes * batch * newTokens);
    for (let a = 0; a < axes; a++) {
      for (let b = 0; b < batch; b++) {
        for (let j = 0; j < newTokens; j++) data[(a * batch + b) * newTokens + j] = BigInt(pastLength + j) + state.delta[b]!;
      }
    }
    inputs.position_ids = new Tensor('int64', data, family.mrope ? [3, batch, newTokens] : [batch, newTokens]);
  }
  return inputs;
}
