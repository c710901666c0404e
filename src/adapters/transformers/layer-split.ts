/**
 * Pruning inside the decoder at layer K (`withTokenPruning(model, { …, layer: K })`, the paper's setting) for
 * any stock transformers.js export: `decoder_model_merged.onnx` is split once per model and layer by
 * {@link splitDecoderGraph} (cached), the prefix (layers < K) runs on the whole prompt and gives the last
 * prompt token's head-averaged attention at layer K−1 (the importance) and the hidden states entering layer K
 * (the features), the method selects, and the suffix (layers ≥ K) runs on the kept tokens only.
 *
 * Cache of layers < K: kept whole. During decoding the prefix keeps attending to every prompt token (its
 * cache is the unpruned prompt's, with the original attention mask) and the suffix attends to the kept
 * tokens (its cache holds only those, with their own mask) — FastV's setting. Positions are the original
 * ones on both sides (M-RoPE triples for Qwen-VL), so with every token kept prefill and decoding give the
 * unsplit decoder's logits.
 */
import { splitDecoderGraph, SPLIT_TENSORS, type DecoderSplit } from '../../onnx/split-decoder-graph.js';
import { ValidationError } from '../../core/errors.js';
import { resolveBudget } from '../../core/validate.js';
import { select } from '../../select.js';
import { imagePrior, type ResolvedOptions } from './options.js';
import { rowsOf } from './gather.js';
import { combineImages, locateBatch, scorePrefill, toFloat32, type ScoredPrefill } from './prefill.js';
import type { FamilyAdapter, ImagePruning, PruningReport, TensorLike, VisionLanguageModelLike } from './types.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- ONNX Runtime objects come from the host's transformers.js */

type ModelInputs = Record<string, any>;
type TensorCtor = new (...args: any[]) => TensorLike & { ort_tensor?: unknown };

/** Where the decoder's ModelProto comes from: its bytes, or (Node) the path of the `.onnx` file. */
export type DecoderSource = Uint8Array | string;

/** The split decoder of one model at one layer, ready to run. */
export interface LayerSplitSessions {
  layer: number;
  layers: number;
  prefix: any;
  suffix: any;
  /** Names as returned by the split. */
  split: Pick<DecoderSplit, 'prefixInputs' | 'suffixInputs' | 'cut' | 'softmax' | 'externalData'>;
}

/** Split sessions per decoder session and layer: a model is split once per layer. */
const splits = new WeakMap<object, Map<number, Promise<LayerSplitSessions>>>();

/**
 * Validates `layer` (and `decoder`) of the pruning options. 0 or undefined = prune at the decoder input.
 * @throws ValidationError naming the field.
 */
export function resolveLayer(options: { layer?: unknown; decoder?: unknown; importance?: unknown; positions?: unknown }): number {
  const layer = options.layer ?? 0;
  if (typeof layer !== 'number' || !Number.isInteger(layer) || layer < 0) {
    throw new ValidationError('layer', layer, 'must be an integer ≥ 0 (0 prunes at the decoder input, K ≥ 1 inside the decoder before layer K)');
  }
  if (layer > 0) {
    if (options.importance !== undefined && options.importance !== 'attention') {
      throw new ValidationError('importance', options.importance, `must be "attention" (or omitted) with layer ${layer}: the importance is the attention at layer ${layer - 1}`);
    }
    if (options.positions !== undefined && options.positions !== 'original') {
      throw new ValidationError('positions', options.positions, `must be "original" with layer ${layer}: layers < K keep the whole prompt`);
    }
  }
  const decoder = options.decoder;
  if (decoder !== undefined && !(decoder instanceof Uint8Array) && typeof decoder !== 'string') {
    throw new ValidationError('decoder', decoder, 'must be the decoder ModelProto bytes (Uint8Array) or the path of its .onnx file');
  }
  return layer;
}

/**
 * Node's `fs`, without an import a bundler would follow: this entry is browser-safe, and only a decoder given
 * as a file path (Node) needs it. (`process.getBuiltinModule`: Node ≥ 20.16.)
 */
function nodeFs(field: string, value: unknown): typeof import('node:fs') {
  const fs = (globalThis as { process?: { getBuiltinModule?(id: string): unknown } }).process?.getBuiltinModule?.('node:fs');
  if (!fs) throw new ValidationError(field, value, 'is a file path, which needs Node (≥ 20.16); in the browser pass the decoder bytes (Uint8Array)');
  return fs as typeof import('node:fs');
}

async function readDecoder(source: DecoderSource): Promise<{ bytes: Uint8Array; path?: string }> {
  if (source instanceof Uint8Array) return { bytes: source };
  const fs = nodeFs('decoder', source);
  try {
    return { bytes: new Uint8Array(fs.readFileSync(source)), path: source };
  } catch {
    throw new ValidationError('decoder', source, 'cannot be read (expected the path of decoder_model_merged*.onnx)');
  }
}

/**
 * The prefix and suffix sessions of `model`'s decoder split at `layer`, created once per decoder session and
 * layer. In Node, parts referencing external data are written beside the original file
 * (`<name>.layer<K>.prefix.onnx` / `.suffix.onnx`, reusing them when present and newer), since onnxruntime-node
 * resolves external data next to the model file; otherwise sessions are created from bytes.
 * @throws ValidationError when no decoder source is known or the graph cannot be split.
 */
export function layerSplitSessions(model: VisionLanguageModelLike, layer: number, source: DecoderSource | undefined, sessionOptions: Record<string, unknown> = {}): Promise<LayerSplitSessions> {
  const decoderSession = model.sessions['decoder_model_merged'] as object | undefined;
  if (!decoderSession) throw new ValidationError('layer', layer, 'needs a model with a decoder_model_merged session');
  let perLayer = splits.get(decoderSession);
  if (!perLayer) splits.set(decoderSession, (perLayer = new Map()));
  let pending = perLayer.get(layer);
  if (!pending) {
    if (source === undefined) {
      throw new ValidationError('decoder', source, `is needed for layer ${layer}: pass the decoder file's path or bytes (options.decoder) so it can be split`);
    }
    pending = createSplit(decoderSession, layer, source, sessionOptions);
    pending.catch(() => perLayer!.delete(layer));
    perLayer.set(layer, pending);
  }
  return pending;
}

async function createSplit(decoderSession: object, layer: number, source: DecoderSource, sessionOptions: Record<string, unknown>): Promise<LayerSplitSessions> {
  const { bytes, path } = await readDecoder(source);
  const split = splitDecoderGraph(bytes, { layer });
  const Session = (decoderSession as any).constructor;
  if (typeof Session?.create !== 'function') throw new ValidationError('layer', layer, 'needs ONNX Runtime sessions (model.sessions.decoder_model_merged.constructor.create)');
  let prefixModel: Uint8Array | string = split.prefix;
  let suffixModel: Uint8Array | string = split.suffix;
  if (split.externalData.length > 0) {
    if (!path) {
      throw new ValidationError('decoder', 'bytes', `reference external data (${split.externalData.join(', ')}); pass the .onnx file's path (Node) so the parts can sit beside it`);
    }
    [prefixModel, suffixModel] = await writeBeside(path, layer, split);
  }
  const [prefix, suffix] = [await Session.create(prefixModel, sessionOptions), await Session.create(suffixModel, sessionOptions)];
  return { layer, layers: split.layers, prefix, suffix, split };
}

async function writeBeside(path: string, layer: number, split: DecoderSplit): Promise<[string, string]> {
  const fs = nodeFs('decoder', path);
  const base = path.replace(/\.onnx$/, '');
  const source = fs.statSync(path).mtimeMs;
  const out: string[] = [];
  for (const [part, bytes] of [['prefix', split.prefix], ['suffix', split.suffix]] as const) {
    const file = `${base}.layer${layer}.${part}.onnx`;
    const fresh = fs.existsSync(file) && fs.statSync(file).mtimeMs >= source && fs.statSync(file).size === bytes.length;
    if (!fresh) {
      const tmp = `${file}.tmp-${process.pid}`;
      fs.writeFileSync(tmp, bytes);
      fs.renameSync(tmp, file);
    }
    out.push(file);
  }
  return out as [string, string];
}

/** Per-generation state of a layer-K pruned prefill. */
export interface LayerDecodeState {
  sessions: LayerSplitSessions;
  /** Mask of the whole prompt (layers < K) and of the kept prompt (layers ≥ K). */
  prefixMask: BigInt64Array;
  suffixMask: BigInt64Array;
  /** Next position = prefix past length + delta (the same on every M-RoPE axis). */
  delta: bigint;
  /** Position axes: 1, or 3 for M-RoPE. */
  axes: number;
}

function ortOf(tensor: any): any {
  return tensor?.ort_tensor ?? tensor;
}

/** Empty past entries for `layers` as the session's input metadata declares them (kv heads, head dim, dtype). */
function emptyPast(Tensor: TensorCtor, session: any, batch: number): Record<string, any> {
  const feeds: Record<string, any> = {};
  const metadata: any[] = Array.isArray(session.inputMetadata) ? session.inputMetadata : [];
  for (const name of session.inputNames as string[]) {
    if (!name.startsWith('past_key_values.')) continue;
    const meta = metadata.find((m) => m.name === name);
    const shape = (meta?.shape ?? []).map((d: unknown, i: number) => (i === 0 ? batch : typeof d === 'number' ? d : 0));
    const type = meta?.type === 'float16' ? 'float16' : 'float32';
    feeds[name] = ortOf(new Tensor(type, type === 'float16' ? new Uint16Array(0) : new Float32Array(0), shape));
  }
  return feeds;
}

async function run(session: any, feeds: Record<string, any>): Promise<Record<string, any>> {
  const picked: Record<string, any> = {};
  for (const name of session.inputNames as string[]) {
    if (!(name in feeds)) throw new Error(`layer split: no value for the ${name} input`);
    picked[name] = ortOf(feeds[name]);
  }
  return session.run(picked);
}

/** present.* and logits as transformers.js tensors (what its decoder forward returns). */
function wrapOutputs(Tensor: TensorCtor, ...parts: Record<string, any>[]): Record<string, unknown> {
  const outputs: Record<string, unknown> = {};
  for (const part of parts) {
    for (const [name, value] of Object.entries(part)) {
      if (name === 'logits' || name.startsWith('present.')) outputs[name] = new Tensor(value);
    }
  }
  return outputs;
}

function logitsToKeep(Tensor: TensorCtor, modelInputs: ModelInputs): any {
  const given = modelInputs.num_logits_to_keep;
  return given ?? new Tensor('int64', BigInt64Array.from([0n]), []);
}

/** What layers < K computed on one prompt: reused while the same prompt is pruned again (another method or budget). */
interface SharedPrefix {
  inputIds: BigInt64Array;
  mask: BigInt64Array;
  embeds: TensorLike;
  fullPositions: BigInt64Array[];
  attentionMask: TensorLike;
  before: Record<string, any>;
  importanceMs: number;
  timings: ScoredPrefill['timings'];
}

/**
 * Prefix outputs per split (its sessions) and pixel values (their data buffer): pruning the same prompt and
 * image again with another method or budget (an evaluation, a side-by-side overlay) runs the vision encoder,
 * the embeddings and layers < K once. An entry is used only when the prompt's ids and mask are equal too.
 */
const sharedPrefixes = new WeakMap<object, WeakMap<object, SharedPrefix>>();

function sameValues(a: ArrayLike<bigint>, b: ArrayLike<bigint>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

async function sharedPrefix(
  model: VisionLanguageModelLike,
  family: FamilyAdapter,
  sessions: LayerSplitSessions,
  originalForward: VisionLanguageModelLike['forward'],
  modelInputs: ModelInputs,
  images: ReturnType<typeof locateBatch>['images'],
  Tensor: TensorCtor,
  length: number,
): Promise<SharedPrefix & { reused: boolean }> {
  const inputIds = (modelInputs.input_ids as TensorLike).data as BigInt64Array;
  const pixels = (modelInputs.pixel_values as TensorLike | undefined)?.data as object | undefined;
  let perSplit = sharedPrefixes.get(sessions);
  if (!perSplit) sharedPrefixes.set(sessions, (perSplit = new WeakMap()));
  const known = pixels ? perSplit.get(pixels) : undefined;
  const givenMask = (modelInputs.attention_mask as TensorLike | undefined)?.data as BigInt64Array | undefined;
  if (known && sameValues(known.inputIds, inputIds) && (!givenMask || sameValues(known.mask, givenMask))) return { ...known, reused: true };

  // Embeddings, vision encoder and merge; the importance comes from the prefix below, not from here.
  const scored = await scorePrefill(model, family, { importance: null, excludeIds: new Set(), attentionOutput: undefined }, originalForward, modelInputs, images);
  const { embeds, fullPositions, attentionMask } = scored;
  const mrope = fullPositions.length === 3;
  const data = new BigInt64Array(fullPositions.length * length);
  fullPositions.forEach((v, a) => data.set(v, a * length));
  const importanceStarted = performance.now();
  const before = await run(sessions.prefix, {
    inputs_embeds: embeds,
    attention_mask: attentionMask,
    position_ids: new Tensor('int64', data, mrope ? [3, 1, length] : [1, length]),
    ...emptyPast(Tensor, sessions.prefix, 1),
  });
  const prefixMs = performance.now() - importanceStarted;
  const entry: SharedPrefix = {
    inputIds: BigInt64Array.from(inputIds),
    mask: BigInt64Array.from(attentionMask.data as BigInt64Array),
    embeds,
    fullPositions,
    attentionMask,
    before,
    importanceMs: prefixMs,
    timings: { ...scored.timings, scoringDecoderMs: prefixMs },
  };
  if (pixels) perSplit.set(pixels, entry);
  return { ...entry, reused: false };
}

/**
 * The layer-K prefill (batch size 1): prefix on the whole prompt, importance and features at the visual
 * positions, selection per image, suffix on the kept tokens. Returns null when the prompt holds no image.
 * @throws ValidationError for a batch of more than one prompt, a budget above an image's token count, or a
 *   decoder that cannot be split.
 */
export async function layerPrunedPrefill(
  model: VisionLanguageModelLike,
  family: FamilyAdapter,
  options: ResolvedOptions & { layer: number; decoder?: DecoderSource },
  originalForward: VisionLanguageModelLike['forward'],
  modelInputs: ModelInputs,
): Promise<{ outputs: Record<string, unknown>; state: LayerDecodeState; report: PruningReport } | null> {
  const inputIds = modelInputs.input_ids as TensorLike;
  const Tensor = inputIds.constructor as TensorCtor;
  const [batch, length] = inputIds.dims as [number, number];
  if (batch !== 1) throw new ValidationError('input_ids', inputIds.dims, `must hold one prompt row with layer ${options.layer} (batches are pruned at the decoder input only)`);
  const { images } = locateBatch(model, family, modelInputs);
  if (images[0]!.length === 0) return null;
  let imageIndex = 0;
  const budgets = images[0]!.map((image) => resolveBudget(options.budget, image.positions.length));
  const priors = images[0]!.map((image) => imagePrior(options.prior, image, imageIndex++));
  const sessions = await layerSplitSessions(model, options.layer, options.decoder);

  const shared = await sharedPrefix(model, family, sessions, originalForward, modelInputs, images, Tensor, length);
  const { fullPositions, attentionMask, before, importanceMs } = shared;
  const scoringStarted = performance.now();
  const mrope = fullPositions.length === 3;
  const positionTensor = (values: BigInt64Array[], n: number) => {
    const data = new BigInt64Array(values.length * n);
    values.forEach((v, a) => data.set(v, a * n));
    return new Tensor('int64', data, mrope ? [3, 1, n] : [1, n]);
  };
  const prefixMask = BigInt64Array.from(attentionMask.data as BigInt64Array);
  const hiddenOut = new Tensor(before[SPLIT_TENSORS.hidden]);
  const attention = toFloat32(new Tensor(before[SPLIT_TENSORS.attention]));
  const hidden = toFloat32(hiddenOut);
  const width = hiddenOut.dims[2]!;
  let scoringMs = performance.now() - scoringStarted;

  const keepSequence = new Uint8Array(length).fill(1);
  const merged = new Map<number, Float32Array>();
  const reports: ImagePruning[] = [];
  images[0]!.forEach((image, i) => {
    const tokens = image.positions.length;
    const rowStarted = performance.now();
    const importance = Float32Array.from(image.positions, (p) => Math.max(0, attention[p]!));
    const features = rowsOf(hidden, width, 0, image.positions);
    const started = performance.now();
    scoringMs += started - rowStarted;
    const selection = select(
      { features, dims: [tokens, width], importance, prior: priors[i], grid: image.grid, budget: budgets[i]! },
      { method: options.method, ...options.methodOptions } as never,
    );
    const selectMs = performance.now() - started;
    for (const p of image.positions) keepSequence[p] = 0;
    selection.keep.forEach((t, k) => {
      keepSequence[image.positions[t]!] = 1;
      if (selection.features) merged.set(image.positions[t]!, selection.features.subarray(k * width, (k + 1) * width));
    });
    reports.push({ row: 0, before: tokens, after: selection.keep.length, keep: selection.keep, roles: selection.roles, importance, grid: image.grid, tokenPositions: image.positions, selectMs });
  });

  const gatherStarted = performance.now();
  const kept: number[] = [];
  for (let j = 0; j < length; j++) if (keepSequence[j]) kept.push(j);
  const n = kept.length;
  // Kept rows in the hidden state's own dtype; merged features (visionzip) are float32.
  const raw = hiddenOut.data as unknown as Float32Array;
  const rows = merged.size > 0 && hiddenOut.type !== 'float32' ? null : new (raw.constructor as Float32ArrayConstructor)(n * width);
  let keptHidden: TensorLike;
  if (rows) {
    kept.forEach((p, k) => rows.set(merged.get(p) ?? raw.subarray(p * width, (p + 1) * width), k * width));
    keptHidden = new Tensor(hiddenOut.type, rows, [1, n, width]);
  } else {
    const values = new Float32Array(n * width);
    kept.forEach((p, k) => values.set(merged.get(p) ?? hidden.subarray(p * width, (p + 1) * width), k * width));
    keptHidden = new Tensor('float32', values, [1, n, width]).to!(hiddenOut.type);
  }
  const suffixMask = BigInt64Array.from(kept, (p) => prefixMask[p]!);
  const keptPositions = fullPositions.map((axis) => BigInt64Array.from(kept, (p) => axis[p]!));
  const suffixInputs = {
    [SPLIT_TENSORS.hidden]: keptHidden,
    attention_mask: new Tensor('int64', suffixMask, [1, n]),
    position_ids: positionTensor(keptPositions, n),
    num_logits_to_keep: logitsToKeep(Tensor, modelInputs),
    ...emptyPast(Tensor, sessions.suffix, 1),
  };
  const decoderStarted = performance.now();
  const gatherMs = decoderStarted - gatherStarted;
  const after = await run(sessions.suffix, suffixInputs);
  const decoderMs = performance.now() - decoderStarted;

  let maxPosition = -1n;
  for (const axis of fullPositions) for (let j = 0; j < length; j++) if (prefixMask[j] !== 0n && axis[j]! > maxPosition) maxPosition = axis[j]!;
  const delta = maxPosition + 1n - BigInt(length);
  if (mrope) modelInputs.rope_deltas = new Tensor('int64', BigInt64Array.from([delta]), [1, 1]);

  const selected = combineImages(reports);
  const report: PruningReport = {
    method: options.method,
    positions: 'original',
    layer: options.layer,
    importance: 'attention',
    batch: 1,
    ...selected,
    importanceMs,
    prefillMs: 0,
    sequence: { before: length, after: n },
    images: reports,
    timings: shared.reused
      ? { textEmbedMs: 0, visionMs: 0, mergeMs: 0, scoringDecoderMs: 0, scoringMs, selectMs: selected.selectMs, gatherMs, decoderMs, overheadMs: 0, reused: true }
      : { ...shared.timings, scoringMs: shared.timings.scoringMs + scoringMs, selectMs: selected.selectMs, gatherMs, decoderMs, overheadMs: 0, reused: false },
  };
  return { outputs: wrapOutputs(Tensor, before, after), state: { sessions, prefixMask, suffixMask, delta, axes: fullPositions.length }, report };
}

/**
 * One decoding step after a layer-K prefill: the new tokens through the prefix (whole-prompt cache, original
 * mask) and the suffix (kept-token cache, its own mask), both at the original positions.
 */
export async function layerDecode(model: VisionLanguageModelLike, modelInputs: ModelInputs, state: LayerDecodeState): Promise<Record<string, unknown>> {
  const inputIds = modelInputs.input_ids as TensorLike;
  const Tensor = inputIds.constructor as TensorCtor;
  const newTokens = inputIds.dims[1]!;
  const past = modelInputs.past_key_values as Record<string, unknown>;
  const { sessions } = state;
  const prefixPast: Record<string, unknown> = {};
  const suffixPast: Record<string, unknown> = {};
  for (let i = 0; i < sessions.layers; i++) {
    for (const kind of ['key', 'value']) {
      const name = `past_key_values.${i}.${kind}`;
      if (!past?.[name]) throw new Error(`layer split: the cache has no ${name}`);
      (i < sessions.layer ? prefixPast : suffixPast)[name] = past[name];
    }
  }
  const prefixLength = (prefixPast['past_key_values.0.key'] as TensorLike).dims.at(-2)!;
  const suffixLength = (suffixPast[`past_key_values.${sessions.layer}.key`] as TensorLike).dims.at(-2)!;
  const mask = (prompt: BigInt64Array, pastLength: number) => {
    const data = new BigInt64Array(pastLength + newTokens).fill(1n);
    data.set(prompt.subarray(0, Math.min(prompt.length, pastLength)));
    return new Tensor('int64', data, [1, pastLength + newTokens]);
  };
  const { axes } = state;
  const positions = new BigInt64Array(axes * newTokens);
  for (let a = 0; a < axes; a++) for (let j = 0; j < newTokens; j++) positions[a * newTokens + j] = BigInt(prefixLength + j) + state.delta;
  const positionIds = new Tensor('int64', positions, axes === 3 ? [3, 1, newTokens] : [1, newTokens]);
  const embeds = await model.encode_text({ input_ids: inputIds });
  const before = await run(sessions.prefix, { inputs_embeds: embeds, attention_mask: mask(state.prefixMask, prefixLength), position_ids: positionIds, ...prefixPast });
  const after = await run(sessions.suffix, {
    [SPLIT_TENSORS.hidden]: before[SPLIT_TENSORS.hidden],
    attention_mask: mask(state.suffixMask, suffixLength),
    position_ids: positionIds,
    num_logits_to_keep: logitsToKeep(Tensor, modelInputs),
    ...suffixPast,
  });
  return wrapOutputs(Tensor, before, after);
}
