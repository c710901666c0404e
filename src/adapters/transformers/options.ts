/**
 * The options step of a pruned model: checks `withTokenPruning`'s options once, before any session runs, and
 * splits them into the adapter's own and the method's.
 */
import { ValidationError } from '../../core/errors.js';
import { validatePrior, priorForLayout, type PositionalPrior } from '../../importance/prior.js';
import { getMethod, validateSelectOptions } from '../../select.js';
import { templateTokenIds } from './prompt-text.js';
import type { ImageSpan, TokenPruningOptions, VisionLanguageModelLike } from './types.js';

/** Keys of TokenPruningOptions that belong to the adapter; every other key is a method option. */
const ADAPTER_KEYS = new Set([
  'method',
  'budget',
  'prior',
  'positions',
  'importance',
  'tokenizer',
  'excludeTokenIds',
  'attentionOutput',
  'layer',
  'decoder',
]);

/** Validated, normalised options. */
export interface ResolvedOptions {
  method: string;
  budget: number;
  prior: PositionalPrior | Float32Array | undefined;
  positions: 'original' | 'compact';
  importance: NonNullable<TokenPruningOptions['importance']>;
  excludeIds: Set<bigint>;
  attentionOutput: string | undefined;
  methodOptions: Record<string, unknown>;
}

/**
 * Validates the options before any session runs: method name, budget shape (the count is checked against
 * each image's tokens at prefill, still before any session), positions, importance, the prior's size and the
 * method options.
 * @throws ValidationError naming the bad field.
 */
export function resolveOptions(model: VisionLanguageModelLike, options: TokenPruningOptions): ResolvedOptions {
  if (options === null || typeof options !== 'object') throw new ValidationError('options', options, 'must be an object');
  const { method, budget } = options;
  getMethod(method);
  if (typeof budget !== 'number' || !Number.isFinite(budget) || budget <= 0 || (budget >= 1 && !Number.isInteger(budget))) {
    throw new ValidationError('budget', budget, 'must be an integer ≥ 1 or a fraction in (0, 1)');
  }
  const positions = options.positions ?? 'original';
  if (positions !== 'original' && positions !== 'compact') {
    throw new ValidationError('positions', positions, 'must be "original" or "compact"');
  }
  const { importance, attentionOutput, excludeIds } = resolveImportance(model, options);
  let prior = options.prior;
  if (prior !== undefined) {
    if (prior instanceof Float32Array) {
      for (let i = 0; i < prior.length; i++) {
        if (!Number.isFinite(prior[i]!) || prior[i]! < 0) throw new ValidationError(`prior[${i}]`, prior[i], 'must be a finite number ≥ 0');
      }
    } else {
      prior = validatePrior(prior);
    }
  }
  const methodOptions: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) if (!ADAPTER_KEYS.has(key)) methodOptions[key] = value;
  // Unknown or bad method options are rejected now rather than at the first prefill.
  validateSelectOptions({ method, ...methodOptions });
  return { method, budget, prior, positions, importance, excludeIds, attentionOutput, methodOptions };
}

/** The importance part of the options (shared by pruning and calibration). @throws ValidationError */
export function resolveImportance(
  model: VisionLanguageModelLike,
  options: Pick<TokenPruningOptions, 'importance' | 'attentionOutput' | 'tokenizer' | 'excludeTokenIds'>,
): Pick<ResolvedOptions, 'importance' | 'attentionOutput' | 'excludeIds'> {
  const importance = options.importance ?? 'promptRelevance';
  if (typeof importance !== 'function' && importance !== 'promptRelevance' && importance !== 'attention') {
    throw new ValidationError('importance', importance, 'must be "promptRelevance", "attention" or a function (ctx) => Float32Array');
  }
  let attentionOutput: string | undefined;
  if (importance === 'attention') {
    const decoder = model.sessions['decoder_model_merged'];
    const outputs = decoder?.outputNames ?? [];
    attentionOutput = options.attentionOutput ?? outputs.find((name) => /attention/i.test(name));
    if (!attentionOutput || !outputs.includes(attentionOutput)) {
      throw new ValidationError(
        'importance',
        importance,
        `needs a decoder that exports the last prompt token's attention (outputs: ${outputs.join(', ')}); ` +
          'pass a callback (ctx) => Float32Array instead',
      );
    }
  }
  const excludeIds = new Set<bigint>();
  for (const id of options.excludeTokenIds ?? []) excludeIds.add(BigInt(id));
  if (options.tokenizer) for (const id of templateTokenIds(options.tokenizer)) excludeIds.add(BigInt(id));
  return { importance, attentionOutput, excludeIds };
}

/** The positional prior of one image: raw values must match its token count; a calibrated prior is resized. */
export function imagePrior(prior: ResolvedOptions['prior'], image: ImageSpan, index: number): Float32Array | undefined {
  if (prior === undefined) return undefined;
  const tokens = image.positions.length;
  if (prior instanceof Float32Array) {
    if (prior.length !== tokens) {
      throw new ValidationError('prior', prior, `must hold one value per visual token: image ${index} has ${tokens}`);
    }
    return prior;
  }
  if (image.layout.tiles.length === 0) {
    if (prior.values.length !== tokens) {
      throw new ValidationError('prior', prior.grid, `cannot be mapped onto image ${index}: its ${tokens} tokens have no grid`);
    }
    return Float32Array.from(prior.values);
  }
  return priorForLayout(prior, image.layout);
}
