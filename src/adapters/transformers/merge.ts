/**
 * The merge of image features into the text embeddings, as transformers.js's stock
 * `default_merge_input_ids_with_features` does it (every family here uses it): the rows of the image
 * features, in order, overwrite the embeddings at the positions whose id is the model's image token, row by
 * row of the batch, in place. The host builds a Tensor proxy per token and converts the ids to a JS list,
 * about 10 µs a token (tens of ms at 2,304 visual tokens); here it is one pass of typed-array copies.
 */
import type { FamilyAdapter, TensorLike, VisionLanguageModelLike } from './types.js';

export interface MergeArgs {
  image_features: TensorLike;
  inputs_embeds: TensorLike;
  input_ids: TensorLike;
  attention_mask: TensorLike;
}

/**
 * Merges like the host, fast where the result is known to be the host's: the family names the token id the
 * host's merge uses, the model does not override the merge on the instance, and the counts and storage
 * types agree. Anything else goes to the host's own merge (and its own errors).
 */
export function mergeImageFeatures(model: VisionLanguageModelLike, family: FamilyAdapter, args: MergeArgs): TensorLike {
  const tokenId = family.mergeTokenId?.(model);
  const embeds = args.inputs_embeds;
  const features = args.image_features;
  const fast =
    tokenId !== undefined &&
    !Object.prototype.hasOwnProperty.call(model, '_merge_input_ids_with_image_features') &&
    embeds.data.constructor === features.data.constructor &&
    embeds.dims.length === 3 &&
    copyImageRows(args.input_ids.data as BigInt64Array, BigInt(tokenId), embeds.data as Float32Array, features.data as Float32Array, embeds.dims[2]!);
  return fast ? embeds : model._merge_input_ids_with_image_features(args as unknown as Record<string, unknown>).inputs_embeds;
}

/**
 * Copies feature row k into the embedding row of the k-th `tokenId` in `ids` (row-major over the batch).
 * Returns false, writing nothing, when the number of such tokens differs from the number of feature rows.
 */
export function copyImageRows(ids: BigInt64Array, tokenId: bigint, embeds: Float32Array | Uint16Array, features: Float32Array | Uint16Array, hidden: number): boolean {
  let count = 0;
  for (let j = 0; j < ids.length; j++) if (ids[j] === tokenId) count++;
  if (count * hidden !== features.length || ids.length * hidden !== embeds.length) return false;
  let row = 0;
  for (let j = 0; j < ids.length; j++) {
    if (ids[j] !== tokenId) continue;
    // Consecutive image tokens take consecutive feature rows: copy the whole run at once.
    let end = j + 1;
    while (end < ids.length && ids[end] === tokenId) end++;
    const rows = end - j;
    embeds.set(features.subarray(row * hidden, (row + rows) * hidden), j * hidden);
    row += rows;
    j = end - 1;
  }
  return true;
}
