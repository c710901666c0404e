import { ValidationError } from '../../core/errors.js';
import { float16Storage, float16StorageToFloat32 } from '../../core/float16.js';
import { resolveBudget } from '../../core/validate.js';
import { priorForLayout, validatePrior, type PositionalPrior } from '../../importance/prior.js';
import { lastTokenAttention } from '../../importance/attention.js';
import { promptRelevance } from '../../importance/promptRelevance.js';
import type { ImportanceContext } from '../../importance/types.js';
import { layerDecode, layerPrunedPrefill, resolveLayer, type LayerDecodeState } from './layer-split.js';
import { cacheTensor, continuePrunedCache, type PrunedCache, type PrunedCacheState } from './continuation.js';
import { getMethod, select, validateSelectOptions } from '../../select.js';
import { cumsumPositions, gatherKept } from './gather.js';
import type {
  FamilyAdapter,
  ImagePruning,
  ImageSpan,
  PrunedModel,
  PruningReport,
  TensorLike,
  TokenizerLike,
  TokenPruningOptions,
  VisionLanguageModelLike,
} from './types.js';

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

type TensorCtor = new (type: string, data: ArrayLike<unknown>, dims: number[]) => TensorLike;
type ModelInputs = Record<string, any>;

/** Per-generation state, keyed by the `model_inputs` object `generate()` reuses across its steps. */
type DecodeState = PrunedCacheState;

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

/**
 * Special tokens and the tokens of the chat template itself (rendered around an empty user message with an
 * image), so that prompt relevance compares visual tokens with the user's own words only.
 */
export function templateTokenIds(tokenizerOrProcessor: TokenizerLike): number[] {
  const tokenizer = tokenizerOrProcessor.tokenizer ?? tokenizerOrProcessor;
  const special = new Set<number>(tokenizer.all_special_ids ?? []);
  if (typeof tokenizer.apply_chat_template === 'function') {
    for (const content of [
      [{ type: 'image' }, { type: 'text', text: '' }],
      '',
    ]) {
      try {
        const rendered = tokenizer.apply_chat_template([{ role: 'user', content }], {
          add_generation_prompt: true,
          tokenize: true,
          return_tensor: false,
        });
        let ids: unknown = rendered;
        if (ids && typeof ids === 'object' && 'input_ids' in ids) ids = (ids as { input_ids: unknown }).input_ids;
        if (ids && typeof ids === 'object' && 'tolist' in ids) ids = (ids as { tolist(): unknown }).tolist();
        const flat = (Array.isArray(ids) ? ids.flat(2) : []) as unknown[];
        for (const id of flat) if (typeof id === 'number' || typeof id === 'bigint') special.add(Number(id));
        break;
      } catch {
        // Templates that reject this message shape: try the next one, else keep the special ids only.
      }
    }
  }
  return [...special];
}

/** Special token ids named in a model config (image, video, vision markers, bos/eos/pad). */
function configSpecialIds(model: VisionLanguageModelLike): Set<bigint> {
  const ids = new Set<bigint>();
  const add = (value: unknown) => {
    if (typeof value === 'number' && Number.isInteger(value) && value >= 0) ids.add(BigInt(value));
    else if (Array.isArray(value)) value.forEach(add);
  };
  const sources = [model.config, (model.config as any).text_config, (model as any).generation_config];
  for (const source of sources) {
    if (!source || typeof source !== 'object') continue;
    for (const [key, value] of Object.entries(source)) {
      if (/(^|_)(token_id|token_index|token_ids)$/.test(key)) add(value);
    }
  }
  return ids;
}

/**
 * Wraps a loaded transformers.js vision-language model so that every prefill drops visual tokens before the
 * decoder. Returns a new object whose prototype is `model` (the original stays unpruned and usable side by
 * side; both share the ONNX sessions), with `forward` overridden, `lastPruning` and `unwrap()`.
 */
export function wrapModel<M extends object>(model: M, family: FamilyAdapter, options: TokenPruningOptions): PrunedModel<M> {
  const host = model as unknown as VisionLanguageModelLike;
  const layer = resolveLayer(options);
  const resolved = resolveOptions(host, layer > 0 ? { ...options, importance: undefined } : options);
  const layerStates = new WeakMap<object, LayerDecodeState>();
  const originalForward = host.forward;
  const states = new WeakMap<object, DecodeState>();
  // A pruned run's last cache tensor → its state; the caches generate() returned → state and sequences.
  const cacheStates = new WeakMap<object, DecodeState>();
  const prunedCaches = new WeakMap<object, PrunedCache>();
  const originalPrepare = (host as unknown as { prepare_inputs_for_generation(...args: unknown[]): unknown }).prepare_inputs_for_generation;
  const frozen = Object.freeze({ ...options });
  let lastPruning: PruningReport | null = null;
  let prefills = 0;
  // transformers.js models are callable (`model(inputs)` runs `_call` → `forward`); so is the wrapper: a
  // function whose prototype is the model, as transformers.js's own Callable is.
  const callable = (...args: unknown[]) => (callable as unknown as { _call(...a: unknown[]): unknown })._call(...args);
  const wrapper = Object.setPrototypeOf(callable, model) as VisionLanguageModelLike;
  const originalGenerate = host.generate;

  Object.defineProperties(wrapper, {
    forward: {
      value: async function forward(this: VisionLanguageModelLike, modelInputs: ModelInputs) {
        const inputIds = modelInputs.input_ids as TensorLike | undefined;
        const past = modelInputs.past_key_values as { get_seq_length(): number } | null | undefined;
        const pastLength = past ? past.get_seq_length() : 0;
        if (layer > 0) {
          // Pruning inside the decoder (layer-split.ts): its own prefill and decoding steps.
          if (modelInputs.pixel_values && inputIds && inputIds.dims[1]! > 1 && pastLength === 0 && !modelInputs.inputs_embeds) {
            const started = performance.now();
            const result = await layerPrunedPrefill(this, family, { ...resolved, layer, decoder: options.decoder }, originalForward, modelInputs);
            if (result) {
              prefills++;
              layerStates.set(modelInputs, result.state);
              result.report.prefillMs = performance.now() - started;
              lastPruning = result.report;
              return result.outputs;
            }
          }
          const layerState = layerStates.get(modelInputs);
          if (layerState && past && pastLength > 0 && inputIds) return layerDecode(this, modelInputs, layerState);
          return originalForward.call(this, modelInputs);
        }
        if (modelInputs.pixel_values && inputIds && inputIds.dims[1]! > 1 && pastLength === 0 && !modelInputs.inputs_embeds) {
          const started = performance.now();
          const result = await prunedPrefill(this, family, resolved, originalForward, modelInputs);
          prefills++;
          states.set(modelInputs, result.state);
          result.report.prefillMs = performance.now() - started;
          lastPruning = result.report;
          const present = cacheTensor(result.outputs);
          if (present) cacheStates.set(present, result.state);
          return result.outputs;
        }
        const state = states.get(modelInputs);
        if (state && past && pastLength > 0 && inputIds) {
          const outputs = await originalForward.call(this, decodeInputs(family, modelInputs, inputIds, pastLength, state));
          const present = cacheTensor(outputs);
          if (present) cacheStates.set(present, state);
          return outputs;
        }
        return originalForward.call(this, modelInputs);
      },
      writable: true,
      configurable: true,
    },
    prepare_inputs_for_generation: {
      value: function prepare_inputs_for_generation(this: VisionLanguageModelLike, ...args: unknown[]) {
        const modelInputs = args[1] as ModelInputs;
        const cache = modelInputs?.past_key_values ? prunedCaches.get(modelInputs.past_key_values) : undefined;
        // The first step of a turn that continues a pruned cache (later steps find their state).
        if (cache && layer === 0 && !states.has(modelInputs)) {
          states.set(modelInputs, continuePrunedCache(this, modelInputs, cache, Boolean(family.mrope)));
        }
        return originalPrepare.apply(this, args);
      },
      writable: true,
      configurable: true,
    },
    generate: {
      value: async function generate(this: VisionLanguageModelLike, generateOptions: Record<string, unknown>) {
        if (layer > 0 && generateOptions?.past_key_values != null) {
          throw new ValidationError(
            'past_key_values',
            typeof generateOptions.past_key_values,
            'cannot continue a cache with layer-K pruning; start each turn from the whole prompt without past_key_values',
          );
        }
        const before = prefills;
        const output = await originalGenerate.call(this, generateOptions);
        // A returned cache of a pruned run can be passed back for the next turn (continuePrunedCache).
        const returned = output as { past_key_values?: object; sequences?: TensorLike } | null;
        const state = returned?.past_key_values ? cacheStates.get(cacheTensor(returned.past_key_values) ?? {}) : undefined;
        if (state && returned!.sequences) prunedCaches.set(returned!.past_key_values!, { state, sequences: returned!.sequences });
        if (generateOptions?.pixel_values && generateOptions.past_key_values == null && prefills === before) {
          throw new Error(
            'withTokenPruning: generate() ran with pixel_values but the pruning prefill never ran, so the answer ' +
              'is unpruned; this transformers.js version no longer calls model.forward for the prefill ' +
              '(the wrapper was tested with @huggingface/transformers 4.3.1)',
          );
        }
        return output;
      },
      writable: true,
      configurable: true,
    },
    lastPruning: { get: () => lastPruning, configurable: true },
    pruning: { value: frozen, configurable: true },
    unwrap: { value: () => model, configurable: true },
  });
  return wrapper as unknown as PrunedModel<M>;
}

/** Decode step after a pruned prefill: the prefill's mask then ones, positions continuing per row. */
function decodeInputs(
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

interface PrefillResult {
  outputs: Record<string, unknown>;
  state: DecodeState;
  report: PruningReport;
}

/** Inputs of the generic forward other than the text/generation ones: the vision kwargs. */
function visionKwargs(modelInputs: ModelInputs): ModelInputs {
  const {
    input_ids: _ids,
    attention_mask: _mask,
    position_ids: _pos,
    inputs_embeds: _embeds,
    past_key_values: _past,
    generation_config: _gc,
    logits_processor: _lp,
    num_logits_to_keep: _nl,
    rope_deltas: _rd,
    ...rest
  } = modelInputs;
  return rest;
}

function toFloat32(tensor: TensorLike): Float32Array {
  if (tensor.type === 'float32') return tensor.data as Float32Array;
  if (tensor.type === 'float16') return float16StorageToFloat32(tensor.data as Uint16Array);
  if (!tensor.to) throw new Error(`cannot convert a ${tensor.type} tensor to float32`);
  return tensor.to('float32').data as Float32Array;
}

/**
 * `tensor` in the dtype of `like` (float16 ↔ float32). A float16 model may pair float32 image features with
 * float16 embeddings (e.g. a q4 vision encoder with an fp16 embed_tokens); transformers.js's merge copies the
 * raw values into the embeddings' storage, which on runtimes without Float16Array is a Uint16Array of bit
 * patterns, so the features are encoded first.
 */
function matchFloatType(tensor: TensorLike, like: TensorLike): TensorLike {
  if (tensor.type === like.type) return tensor;
  const Tensor = tensor.constructor as TensorCtor;
  if (like.type === 'float16' && tensor.type === 'float32') return new Tensor('float16', float16Storage(tensor.data as Float32Array), tensor.dims);
  if (like.type === 'float32' && tensor.type === 'float16') return new Tensor('float32', toFloat32(tensor), tensor.dims);
  return tensor;
}

/** Everything the prefill computes before selection: the merged embeddings and each image's importance. */
export interface ScoredPrefill {
  /** Images per prompt row. */
  images: ImageSpan[][];
  /** Raw importance per row and image (length N each). */
  importances: Float32Array[][];
  /** Visual-token features per row and image (N×D each, the merged embedding rows). */
  features: Float32Array[][];
  hidden: number;
  /** Merged (unpruned) inputs_embeds [B, L, D]. */
  embeds: TensorLike;
  /** The same values as float32. */
  embedFloat: Float32Array;
  attentionMask: TensorLike;
  /** Unpruned positions per axis (1 axis, or 3 for M-RoPE), each B·L long (row-major). */
  fullPositions: BigInt64Array[];
  importanceMs: number;
}

/** Finds the images of every row of a batch (no session runs). */
export function locateBatch(
  model: VisionLanguageModelLike,
  family: FamilyAdapter,
  modelInputs: ModelInputs,
): { rows: BigInt64Array[]; images: ImageSpan[][] } {
  const inputIds = modelInputs.input_ids as TensorLike;
  const [batch, length] = inputIds.dims as [number, number];
  const data = inputIds.data as BigInt64Array;
  const rows: BigInt64Array[] = [];
  const images: ImageSpan[][] = [];
  let imageOffset = 0;
  for (let b = 0; b < batch; b++) {
    const row = data.subarray(b * length, (b + 1) * length);
    const spans = family.locateImages(model, row, modelInputs, imageOffset);
    imageOffset += spans.length;
    rows.push(row);
    images.push(spans);
  }
  return { rows, images };
}

/**
 * Runs the text embeddings, the vision encoder and the merge for a batch of prompts and scores the visual
 * tokens of every image with the configured importance provider. No pruning happens here.
 */
export async function scorePrefill(
  model: VisionLanguageModelLike,
  family: FamilyAdapter,
  options: Pick<ResolvedOptions, 'importance' | 'excludeIds' | 'attentionOutput'>,
  originalForward: VisionLanguageModelLike['forward'],
  modelInputs: ModelInputs,
  images: ImageSpan[][],
): Promise<ScoredPrefill> {
  const inputIds = modelInputs.input_ids as TensorLike;
  const Tensor = inputIds.constructor as TensorCtor;
  const [batch, length] = inputIds.dims as [number, number];
  const data = inputIds.data as BigInt64Array;
  const attentionMask: TensorLike =
    (modelInputs.attention_mask as TensorLike | undefined) ??
    new Tensor('int64', new BigInt64Array(batch * length).fill(1n), [batch, length]);
  const kwargs = visionKwargs(modelInputs);
  const textEmbeds = await model.encode_text({ input_ids: inputIds, ...kwargs });
  const imageFeatures = await model.encode_image({ ...kwargs });
  const merged = model._merge_input_ids_with_image_features({
    image_features: matchFloatType(imageFeatures, textEmbeds),
    inputs_embeds: textEmbeds,
    input_ids: inputIds,
    attention_mask: attentionMask,
  });
  const embeds = merged.inputs_embeds;
  const hidden = embeds.dims[2]!;
  const embedFloat = toFloat32(embeds);
  const maskData = attentionMask.data as BigInt64Array;

  let fullPositions: BigInt64Array[];
  if (family.mrope) {
    let positionIds = modelInputs.position_ids as TensorLike | undefined;
    if (!positionIds) {
      [positionIds] = model.get_rope_index!(inputIds, modelInputs.image_grid_thw, modelInputs.video_grid_thw, attentionMask);
    }
    const positionData = positionIds.data as BigInt64Array;
    const size = batch * length;
    fullPositions = [0, 1, 2].map((a) => positionData.slice(a * size, (a + 1) * size));
  } else {
    const positions = new BigInt64Array(batch * length);
    for (let b = 0; b < batch; b++) positions.set(cumsumPositions(maskData, b * length, length), b * length);
    fullPositions = [positions];
  }

  let attention: Float32Array | null = null;
  if (options.importance === 'attention') {
    attention = await decoderAttention(model, originalForward, modelInputs, embeds, attentionMask, fullPositions, options.attentionOutput!);
  }

  const excludedBase = new Set<bigint>([...configSpecialIds(model), ...options.excludeIds]);
  const importances: Float32Array[][] = [];
  const features: Float32Array[][] = [];
  let importanceMs = 0;
  for (let b = 0; b < batch; b++) {
    const row = data.subarray(b * length, (b + 1) * length);
    const rowImages = images[b]!;
    const base = b * length;
    // The prompt's own text tokens for prompt relevance.
    const isImage = new Uint8Array(length);
    for (const image of rowImages) for (const p of image.positions) isImage[p] = 1;
    const excluded = new Set(excludedBase);
    if (family.markerIds) for (const id of family.markerIds(model, row, rowImages)) excluded.add(id);
    const textPositionList: number[] = [];
    for (let j = 0; j < length; j++) {
      if (!isImage[j] && maskData[base + j] !== 0n && !excluded.has(row[j]!)) textPositionList.push(j);
    }
    const textPositions = Int32Array.from(textPositionList);
    const textEmbeddings = new Float32Array(textPositions.length * hidden);
    textPositions.forEach((p, t) => textEmbeddings.set(embedFloat.subarray((base + p) * hidden, (base + p + 1) * hidden), t * hidden));

    const rowImportances: Float32Array[] = [];
    const rowFeatures: Float32Array[] = [];
    for (let i = 0; i < rowImages.length; i++) {
      const image = rowImages[i]!;
      const tokens = image.positions.length;
      const imageFeatures = new Float32Array(tokens * hidden);
      image.positions.forEach((p, t) => imageFeatures.set(embedFloat.subarray((base + p) * hidden, (base + p + 1) * hidden), t * hidden));
      const ctx: ImportanceContext = {
        row: b,
        image: i,
        features: imageFeatures,
        dims: [tokens, hidden],
        textEmbeddings,
        textDims: [textPositions.length, hidden],
        inputIds: row,
        tokenPositions: image.positions,
        textPositions,
        grid: image.grid,
        modelType: model.config.model_type,
      };
      const started = performance.now();
      let importance: Float32Array;
      if (typeof options.importance === 'function') importance = await options.importance(ctx);
      else if (attention) importance = Float32Array.from(image.positions, (p) => attention![base + p]!);
      else importance = promptRelevance(ctx);
      importanceMs += performance.now() - started;
      if (!(importance instanceof Float32Array) || importance.length !== tokens) {
        throw new ValidationError('importance', importance, `must return a Float32Array of length ${tokens} (row ${b}, image ${i})`);
      }
      rowImportances.push(importance);
      rowFeatures.push(imageFeatures);
    }
    importances.push(rowImportances);
    features.push(rowFeatures);
  }
  return { images, importances, features, hidden, embeds, embedFloat, attentionMask, fullPositions, importanceMs };
}

/**
 * The pruned prefill: select per image, then run the decoder on the kept tokens only (embeddings, mask and
 * positions gathered together). Rows of a batch that keep different numbers of tokens are left-padded with
 * masked zero rows.
 * @throws ValidationError when pixel_values were given but no row holds an image token (before any session).
 */
async function prunedPrefill(
  model: VisionLanguageModelLike,
  family: FamilyAdapter,
  options: ResolvedOptions,
  originalForward: VisionLanguageModelLike['forward'],
  modelInputs: ModelInputs,
): Promise<PrefillResult> {
  const inputIds = modelInputs.input_ids as TensorLike;
  const Tensor = inputIds.constructor as TensorCtor;
  const [batch, length] = inputIds.dims as [number, number];
  const { images } = locateBatch(model, family, modelInputs);
  if (images.every((row) => row.length === 0)) {
    // transformers.js would fail later, after the vision encoder, with "Number of tokens and features do not match".
    const config = model.config as Record<string, unknown>;
    const id = config.image_token_index ?? config.image_token_id;
    throw new ValidationError(
      'input_ids',
      inputIds.dims,
      `hold no image token (id ${String(id)}) although pixel_values were given: the prompt was rendered without an image ` +
        'placeholder (a list-content message through a string-only chat template?); build it with chatInputs()',
    );
  }

  // Every check that needs the token counts, before any session runs.
  let imageIndex = 0;
  const budgets = images.map((row) => row.map((image) => resolveBudget(options.budget, image.positions.length)));
  const priors = images.map((row) => row.map((image) => imagePrior(options.prior, image, imageIndex++)));

  const scored = await scorePrefill(model, family, options, originalForward, modelInputs, images);
  const { embeds, hidden, fullPositions } = scored;
  const embedData = embeds.data as unknown as Float32Array;
  const maskData = scored.attentionMask.data as BigInt64Array;

  const reports: ImagePruning[] = [];
  const keptRows: number[][] = [];
  const mergedFeatureRows = new Map<number, Float32Array>(); // key: b·L + p
  for (let b = 0; b < batch; b++) {
    const keepSequence = new Uint8Array(length).fill(1);
    images[b]!.forEach((image, i) => {
      const tokens = image.positions.length;
      const importance = scored.importances[b]![i]!;
      const selectStarted = performance.now();
      const selection = select(
        {
          features: scored.features[b]![i]!,
          dims: [tokens, hidden],
          importance,
          prior: priors[b]![i],
          grid: image.grid,
          budget: budgets[b]![i]!,
        },
        { method: options.method, ...options.methodOptions } as never,
      );
      const selectMs = performance.now() - selectStarted;
      for (let t = 0; t < tokens; t++) keepSequence[image.positions[t]!] = 0;
      selection.keep.forEach((t, k) => {
        const p = image.positions[t]!;
        keepSequence[p] = 1;
        if (selection.features) mergedFeatureRows.set(b * length + p, selection.features.subarray(k * hidden, (k + 1) * hidden));
      });
      reports.push({
        row: b,
        before: tokens,
        after: selection.keep.length,
        keep: selection.keep,
        roles: selection.roles,
        importance,
        grid: image.grid,
        tokenPositions: image.positions,
        selectMs,
      });
    });
    const kept: number[] = [];
    for (let j = 0; j < length; j++) if (keepSequence[j]) kept.push(j);
    keptRows.push(kept);
  }

  // Gather the kept sequence of every row, left-padded to the longest: embeddings, mask and positions.
  // Rows are copied in the session's own dtype; merged features (visionzip) are float32 and, for a
  // half-precision model, the pruned embeddings are assembled in float32 and converted once.
  const assembleInFloat32 = mergedFeatureRows.size > 0 && embeds.type !== 'float32';
  const gathered = gatherKept({
    batch,
    length,
    hidden,
    keptRows,
    embeddings: assembleInFloat32 ? scored.embedFloat : embedData,
    replacements: mergedFeatureRows,
    mask: maskData,
    positions: fullPositions,
    numbering: options.positions,
  });
  const { length: newLength, mask: newMask, positions: positionData, delta } = gathered;
  const newEmbedData = gathered.embeddings as Float32Array;
  // Tensor.to('float16') is not an encoder on runtimes without Float16Array (it truncates to integers).
  const newDims = [batch, newLength, hidden];
  const newEmbeds = !assembleInFloat32
    ? new Tensor(embeds.type, newEmbedData, newDims)
    : embeds.type === 'float16'
      ? new Tensor('float16', float16Storage(newEmbedData), newDims)
      : new Tensor('float32', newEmbedData, newDims).to!(embeds.type);
  const positionIds = new Tensor('int64', positionData, family.mrope ? [3, batch, newLength] : [batch, newLength]);
  if (family.mrope) modelInputs.rope_deltas = new Tensor('int64', BigInt64Array.from(delta), [batch, 1]);

  const outputs = await originalForward.call(model, {
    ...modelInputs,
    inputs_embeds: newEmbeds,
    attention_mask: new Tensor('int64', newMask, [batch, newLength]),
    position_ids: positionIds,
  });

  let offset = 0;
  const keepAll: number[] = [];
  const rolesAll: number[] = [];
  for (const r of reports) {
    r.keep.forEach((t, k) => {
      keepAll.push(offset + t);
      rolesAll.push(r.roles[k]!);
    });
    offset += r.before;
  }
  const report: PruningReport = {
    method: options.method,
    positions: options.positions,
    batch,
    before: offset,
    after: keepAll.length,
    keep: Int32Array.from(keepAll),
    roles: Uint8Array.from(rolesAll),
    selectMs: reports.reduce((s, r) => s + r.selectMs, 0),
    importanceMs: scored.importanceMs,
    prefillMs: 0,
    sequence: { before: length, after: newLength },
    images: reports,
  };
  return { outputs, state: { delta, mask: newMask, prefillLength: newLength, removed: length - newLength }, report };
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

/**
 * Runs the unpruned prefill through the decoder once and reads the exported attention of the last prompt
 * token over the sequence: output [B, L], [B, H, L] or [B, H, Lq, L] (heads averaged, last query row).
 * Returns B·L values, row-major, clipped at 0 (see lastTokenAttention).
 */
async function decoderAttention(
  model: VisionLanguageModelLike,
  originalForward: VisionLanguageModelLike['forward'],
  modelInputs: ModelInputs,
  embeds: TensorLike,
  attentionMask: TensorLike,
  fullPositions: BigInt64Array[],
  outputName: string,
): Promise<Float32Array> {
  const Tensor = embeds.constructor as TensorCtor;
  const [batch, length] = embeds.dims as [number, number];
  const size = batch * length;
  const positionData = new BigInt64Array(fullPositions.length * size);
  fullPositions.forEach((p, a) => positionData.set(p, a * size));
  const outputs = await originalForward.call(model, {
    ...modelInputs,
    inputs_embeds: embeds,
    attention_mask: attentionMask,
    position_ids: new Tensor('int64', positionData, fullPositions.length === 3 ? [3, batch, length] : [batch, length]),
    past_key_values: null,
  });
  const attention = outputs[outputName] as TensorLike | undefined;
  if (!attention) throw new Error(`the decoder returned no "${outputName}" output`);
  return lastTokenAttention(toFloat32(attention), attention.dims, batch, length);
}
