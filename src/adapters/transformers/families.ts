import { ValidationError } from '../../core/errors.js';
import { idefics3 } from './idefics3.js';
import { llava } from './llava.js';
import { qwen2vl } from './qwen2vl.js';
import type { FamilyAdapter } from './types.js';

/** Model families with a pruning adapter, in lookup order. Adding one: a file here and one entry. */
export const families: readonly FamilyAdapter[] = Object.freeze([llava, qwen2vl, idefics3]);

/** Every `config.model_type` withTokenPruning accepts. */
export const supportedModelTypes: readonly string[] = Object.freeze(families.flatMap((f) => f.modelTypes));

/** The adapter for a loaded model. @throws ValidationError naming the supported model types. */
export function familyOf(model: unknown): FamilyAdapter {
  const modelType = (model as { config?: { model_type?: unknown } } | null)?.config?.model_type;
  const family = families.find((f) => f.modelTypes.includes(modelType as string));
  if (!family) {
    throw new ValidationError(
      'model.config.model_type',
      modelType,
      `has no pruning adapter; supported: ${supportedModelTypes.join(', ')}`,
    );
  }
  return family;
}
