/**
 * `d2pruner/transformers`: pruning inside transformers.js vision-language models. Browser-safe: it imports
 * neither Node built-ins nor `@huggingface/transformers` itself (it works on the model object you loaded).
 */
export {
  withTokenPruning,
  calibratePrior,
  families,
  supportedModelTypes,
  type CalibrateOptions,
  type TokenPruningOptions,
  type PrunedModel,
  type PruningReport,
  type PrefillTimings,
  firstTokenBreakdown,
  type FirstTokenBreakdown,
  type ImagePruning,
  type FamilyAdapter,
  type TokenizerLike,
} from '../adapters/transformers/index.js';
export { chatPrompt, chatInputs, type ChatPrompt, type ChatPromptOptions, type ChatTurn } from '../adapters/transformers/prompt.js';
export { tileRegions, processorGeometry, type ProcessorGeometry, type TileRegion } from '../visualize/regions.js';
export { overlayStyle } from '../visualize/style.js';
