/**
 * The pruned prefill: embeddings, vision encoder and merge as transformers.js does them, importance per image,
 * selection, the gather of the kept tokens (gather.ts) and the decoder on the kept sequence.
 */
import { ValidationError } from '../../core/errors.js';
import { float16Storage, float16StorageToFloat32 } from '../../core/float16.js';
import { resolveBudget } from '../../core/validate.js';
import { lastTokenAttention } from '../../importance/attention.js';
import { attentionRowProvider, callbackProvider, promptRelevanceProvider, scoreImage, type ImportanceProvider } from '../../importance/provider.js';
import type { ImportanceContext } from '../../importance/types.js';
import { select } from '../../select.js';
import type { DecodeState } from './decode.js';
import { cumsumPositions, gatherKept, rowsOf } from './gather.js';
import { mergeImageFeatures } from './merge.js';
import { imagePrior, type ResolvedOptions } from './options.js';
import { configSpecialIds } from './prompt-text.js';
import type { FamilyAdapter, ImagePruning, ImageSpan, ModelInputs, PrefillTimings, PruningReport, TensorCtor, TensorLike, VisionLanguageModelLike } from './types.js';

export interface PrefillResult {
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

/** A float tensor's values as float32 (float16 storage decoded; other types through `Tensor.to`). */
export function toFloat32(tensor: TensorLike): Float32Array {
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
  /** Times of the steps run here (ms). */
  timings: Pick<PrefillTimings, 'textEmbedMs' | 'visionMs' | 'mergeMs' | 'scoringDecoderMs' | 'scoringMs'>;
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
 * tokens of every image with the configured importance provider (`importance: null`: the caller scores them
 * itself, e.g. from a layer-K prefix, and `importances` holds empty arrays). No pruning happens here.
 */
export async function scorePrefill(
  model: VisionLanguageModelLike,
  family: FamilyAdapter,
  options: { importance: ResolvedOptions['importance'] | null } & Pick<ResolvedOptions, 'excludeIds' | 'attentionOutput'>,
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
  let started = performance.now();
  const textEmbeds = await model.encode_text({ input_ids: inputIds, ...kwargs });
  const textEmbedMs = performance.now() - started;
  started = performance.now();
  const imageFeatures = await model.encode_image({ ...kwargs });
  const visionMs = performance.now() - started;
  started = performance.now();
  const embeds = mergeImageFeatures(model, family, {
    image_features: matchFloatType(imageFeatures, textEmbeds),
    inputs_embeds: textEmbeds,
    input_ids: inputIds,
    attention_mask: attentionMask,
  });
  const hidden = embeds.dims[2]!;
  const embedFloat = toFloat32(embeds);
  const mergeMs = performance.now() - started;
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

  let provider: ImportanceProvider | null = null;
  let scoringDecoderMs = 0;
  if (options.importance === 'attention') {
    started = performance.now();
    const rows = await decoderAttention(model, originalForward, modelInputs, embeds, attentionMask, fullPositions, options.attentionOutput!);
    scoringDecoderMs = performance.now() - started;
    provider = attentionRowProvider(rows, length);
  } else if (typeof options.importance === 'function') {
    provider = callbackProvider(options.importance);
  } else if (options.importance === 'promptRelevance') {
    provider = promptRelevanceProvider;
  }

  const excludedBase = new Set<bigint>([...configSpecialIds(model), ...options.excludeIds]);
  const importances: Float32Array[][] = [];
  const features: Float32Array[][] = [];
  let importanceMs = 0;
  for (let b = 0; b < batch; b++) {
    const row = data.subarray(b * length, (b + 1) * length);
    const rowImages = images[b]!;
    const base = b * length;
    // The prompt's own text tokens, for providers that compare with them (prompt relevance, callbacks).
    const textPositionList: number[] = [];
    if (provider?.readsText) {
      const isImage = new Uint8Array(length);
      for (const image of rowImages) for (const p of image.positions) isImage[p] = 1;
      const excluded = new Set(excludedBase);
      if (family.markerIds) for (const id of family.markerIds(model, row, rowImages)) excluded.add(id);
      for (let j = 0; j < length; j++) {
        if (!isImage[j] && maskData[base + j] !== 0n && !excluded.has(row[j]!)) textPositionList.push(j);
      }
    }
    const textPositions = Int32Array.from(textPositionList);
    const textEmbeddings = rowsOf(embedFloat, hidden, base, textPositions);

    const rowImportances: Float32Array[] = [];
    const rowFeatures: Float32Array[] = [];
    for (let i = 0; i < rowImages.length; i++) {
      const image = rowImages[i]!;
      const tokens = image.positions.length;
      const imageFeatures = rowsOf(embedFloat, hidden, base, image.positions);
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
      const scoreStarted = performance.now();
      rowImportances.push(provider ? await scoreImage(provider, ctx) : new Float32Array(0));
      importanceMs += performance.now() - scoreStarted;
      rowFeatures.push(imageFeatures);
    }
    importances.push(rowImportances);
    features.push(rowFeatures);
  }
  return {
    images,
    importances,
    features,
    hidden,
    embeds,
    embedFloat,
    attentionMask,
    fullPositions,
    importanceMs,
    timings: { textEmbedMs, visionMs, mergeMs, scoringDecoderMs, scoringMs: importanceMs },
  };
}

/**
 * The pruned prefill: select per image, then run the decoder on the kept tokens only (embeddings, mask and
 * positions gathered together). Rows of a batch that keep different numbers of tokens are left-padded with
 * masked zero rows.
 * @throws ValidationError when pixel_values were given but no row holds an image token (before any session).
 */
export async function prunedPrefill(
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

  const gatherStarted = performance.now();
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

  const decoderInputs = {
    ...modelInputs,
    inputs_embeds: newEmbeds,
    attention_mask: new Tensor('int64', newMask, [batch, newLength]),
    position_ids: positionIds,
  };
  const decoderStarted = performance.now();
  const gatherMs = decoderStarted - gatherStarted;
  const outputs = await originalForward.call(model, decoderInputs);
  const decoderMs = performance.now() - decoderStarted;
  const selected = combineImages(reports);

  const report: PruningReport = {
    method: options.method,
    positions: options.positions,
    batch,
    ...selected,
    importanceMs: scored.importanceMs,
    prefillMs: 0,
    sequence: { before: length, after: newLength },
    images: reports,
    timings: { ...scored.timings, selectMs: selected.selectMs, gatherMs, decoderMs, overheadMs: 0, reused: false },
  };
  return { outputs, state: { delta, mask: newMask, prefillLength: newLength, removed: length - newLength }, report };
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

/**
 * The whole prefill's counts from its images: kept indices numbered over all images in order (image k's
 * tokens after those of images 0…k−1), their roles, and the summed selection time.
 */
export function combineImages(images: readonly ImagePruning[]): Pick<PruningReport, 'before' | 'after' | 'keep' | 'roles' | 'selectMs'> {
  let before = 0;
  const keep: number[] = [];
  const roles: number[] = [];
  for (const image of images) {
    image.keep.forEach((t, k) => {
      keep.push(before + t);
      roles.push(image.roles[k]!);
    });
    before += image.before;
  }
  return { before, after: keep.length, keep: Int32Array.from(keep), roles: Uint8Array.from(roles), selectMs: images.reduce((s, r) => s + r.selectMs, 0) };
}
