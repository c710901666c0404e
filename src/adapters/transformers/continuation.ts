import { ValidationError } from '../../core/errors.js';
import type { TensorLike, VisionLanguageModelLike } from './types.js';

type TensorCtor = new (type: string, data: ArrayLike<unknown>, dims: number[]) => TensorLike;
type ModelInputs = Record<string, any>;

/** What a decoding step needs to know about a pruned cache (shared with pruning.ts's per-generation state). */
export interface PrunedCacheState {
  /** Per row: position of the next token = cache length + delta (the same on every M-RoPE axis). */
  delta: bigint[];
  /** The pruned prefill's attention mask [B, prefillLength] (zeros where a row was padded). */
  mask: BigInt64Array;
  prefillLength: number;
  /** Prompt tokens the pruned prefill left out of the cache (original length − pruned length). */
  removed: number;
}

/** A cache returned by a pruned `generate()`: its state and the token ids it stands for. */
export interface PrunedCache {
  state: PrunedCacheState;
  /** The returned `sequences` [B, S]: the cache holds their first `cache length + removed` tokens. */
  sequences: TensorLike;
}

/** Config keys whose ids mark an image or video placeholder in `input_ids`. */
const IMAGE_TOKEN_KEYS = ['image_token_index', 'image_token_id', 'video_token_id'];

/**
 * The first step of a `generate()` that continues a pruned cache (a second turn about the same image): the
 * caller passes the whole conversation as `input_ids` (the returned `sequences` followed by the new turn, as
 * transformers.js expects for an external `past_key_values`) and the cache returned by the earlier pruned
 * run. The cache is shorter than the tokens it stands for, so transformers.js alone would slice the new
 * tokens at the cache's length; here they are sliced after the tokens the cache covers, the mask is the
 * pruned prefill's followed by ones, and positions continue from the pruned prefill's (original positions:
 * the unpruned conversation's; compact: the cache length). `pixel_values` are dropped: the image is in the
 * cache. Mutates `modelInputs`, which transformers.js reuses over the decoding steps.
 *
 * @throws ValidationError (field `input_ids`) when the batch differs from the cache's, when `input_ids` do
 *   not start with the tokens the cache covers, when nothing new follows them, or when the new part holds an
 *   image placeholder (a new image needs a fresh prefill without `past_key_values`).
 */
export function continuePrunedCache(
  model: VisionLanguageModelLike,
  modelInputs: ModelInputs,
  cache: PrunedCache,
  mrope: boolean,
): PrunedCacheState {
  const { state, sequences } = cache;
  const inputIds = modelInputs.input_ids as TensorLike;
  const Tensor = inputIds.constructor as TensorCtor;
  const [batch, length] = inputIds.dims as [number, number];
  const pastLength = (modelInputs.past_key_values as { get_seq_length(): number }).get_seq_length();
  const covered = pastLength + state.removed;
  const [cacheBatch, cacheLength] = sequences.dims as [number, number];
  if (batch !== cacheBatch) {
    throw new ValidationError('input_ids', inputIds.dims, `must have the pruned cache's batch size ${cacheBatch}`);
  }
  if (length <= covered) {
    throw new ValidationError(
      'input_ids',
      inputIds.dims,
      `must hold the whole conversation with a pruned past_key_values: the ${covered} tokens the cache stands for ` +
        '(the returned sequences without their last token), then the new turn',
    );
  }
  const ids = inputIds.data as BigInt64Array;
  const cached = sequences.data as BigInt64Array;
  for (let b = 0; b < batch; b++) {
    for (let j = 0; j < covered; j++) {
      if (ids[b * length + j] !== cached[b * cacheLength + j]) {
        throw new ValidationError(
          'input_ids',
          inputIds.dims,
          `do not start with the ${covered} tokens the pruned cache stands for (row ${b}, token ${j}: ${ids[b * length + j]} ` +
            `instead of ${cached[b * cacheLength + j]}); build the next turn from the returned sequences`,
        );
      }
    }
  }
  const imageIds = new Set<bigint>();
  const config = model.config as Record<string, unknown>;
  for (const key of IMAGE_TOKEN_KEYS) if (typeof config[key] === 'number') imageIds.add(BigInt(config[key] as number));
  const fresh = length - covered;
  const newIds = new BigInt64Array(batch * fresh);
  for (let b = 0; b < batch; b++) {
    const row = ids.subarray(b * length + covered, (b + 1) * length);
    for (const id of row) {
      if (imageIds.has(id)) {
        throw new ValidationError(
          'input_ids',
          inputIds.dims,
          `hold an image token (id ${id}) after the pruned cache: a new image needs a prefill without past_key_values`,
        );
      }
    }
    newIds.set(row, b * fresh);
  }

  const total = pastLength + fresh;
  const mask = new BigInt64Array(batch * total).fill(1n);
  const prefix = Math.min(state.prefillLength, pastLength);
  const given = modelInputs.attention_mask as TensorLike | undefined;
  const givenData = given?.data as BigInt64Array | undefined;
  for (let b = 0; b < batch; b++) {
    mask.set(state.mask.subarray(b * state.prefillLength, b * state.prefillLength + prefix), b * total);
    if (givenData && given!.dims[1] === length) mask.set(givenData.subarray(b * length + covered, (b + 1) * length), b * total + pastLength);
  }
  const axes = mrope ? 3 : 1;
  const positions = new BigInt64Array(axes * batch * fresh);
  for (let a = 0; a < axes; a++) {
    for (let b = 0; b < batch; b++) {
      for (let j = 0; j < fresh; j++) positions[(a * batch + b) * fresh + j] = BigInt(pastLength + j) + state.delta[b]!;
    }
  }
  modelInputs.input_ids = new Tensor('int64', newIds, [batch, fresh]);
  modelInputs.attention_mask = new Tensor('int64', mask, [batch, total]);
  modelInputs.position_ids = new Tensor('int64', positions, mrope ? [3, batch, fresh] : [batch, fresh]);
  // Qwen's prepare_inputs_for_generation continues later steps at cache length + rope_deltas.
  if (mrope) modelInputs.rope_deltas = new Tensor('int64', BigInt64Array.from(state.delta), [batch, 1]);
  for (const key of ['pixel_values', 'pixel_attention_mask', 'image_grid_thw', 'video_grid_thw']) delete modelInputs[key];
  return state;
}

/** The first `present.*` tensor of a decoder's outputs, or of a cache (`past_key_values.*`): identifies the cache. */
export function cacheTensor(outputs: unknown): object | undefined {
  if (!outputs || typeof outputs !== 'object') return undefined;
  for (const [name, value] of Object.entries(outputs)) {
    if ((name.startsWith('present') || name.startsWith('past_key_values')) && value && typeof value === 'object') return value;
  }
  return undefined;
}
