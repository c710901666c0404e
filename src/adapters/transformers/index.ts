import { familyOf } from './families.js';
import { wrapModel } from './pruning.js';
import type { PrunedModel, TokenPruningOptions } from './types.js';

export { families, familyOf, supportedModelTypes } from './families.js';

/**
 * Prunes visual tokens inside a loaded transformers.js vision-language model.
 *
 * ```ts
 * const model = await LlavaForConditionalGeneration.from_pretrained(dir, { dtype: 'fp32' });
 * const pruned = withTokenPruning(model, { method: 'd2pruner', budget: 64, prior });
 * const out = await pruned.generate({ ...inputs, max_new_tokens: 64 });   // unchanged generate()
 * pruned.lastPruning;   // { before: 576, after: 64, keep, roles, selectMs, prefillMs, images, … }
 * ```
 *
 * The returned object inherits from `model` (no prototype or global patch; `model` itself stays unpruned and
 * both share the ONNX sessions) and overrides `forward`: on the prefill it runs the embeddings and the vision
 * encoder, scores each image's visual tokens (`importance`), selects `budget` of them per image with
 * `method`, and sends the decoder only the kept tokens, removing the dropped ones from `inputs_embeds`,
 * `attention_mask` and the position ids together. Decoding steps continue with positions after the pruned
 * prefill (original or compact numbering) over the pruned KV cache. Works with `generate()`, streamers,
 * greedy and sampling, and batches (each row pruned with its own prompt; rows of different pruned lengths are
 * left-padded again, and the decoding mask keeps that padding).
 *
 * @param model a loaded model whose `config.model_type` is one of {@link supportedModelTypes}.
 * @param options method, budget per image, optional prior, positions (`'original'` default), importance
 *   (`'promptRelevance'` default, `'attention'` or a callback) and method options.
 * @throws ValidationError for an unsupported model type, an unknown method or method option, a budget that
 *   is not an integer ≥ 1 or a fraction in (0, 1), a prior of the wrong size — before any session runs. A
 *   budget above an image's token count or a raw prior of the wrong length is rejected at the prefill, also
 *   before any session runs.
 */
export function withTokenPruning<M extends object>(model: M, options: TokenPruningOptions): PrunedModel<M> {
  return wrapModel(model, familyOf(model), options);
}

export type {
  TokenPruningOptions,
  PrunedModel,
  PruningReport,
  PrefillTimings,
  ImagePruning,
  FamilyAdapter,
  TokenizerLike,
} from './types.js';
export { calibratePrior, type CalibrateOptions } from './calibrate.js';
export { firstTokenBreakdown, type FirstTokenBreakdown } from './timings.js';
export { chatPrompt, chatInputs, type ChatPrompt, type ChatPromptOptions, type ChatTurn } from './prompt.js';
