/**
 * Pruning inside the decoder (`mode: 'layer'`, the paper's setting) for a model exported split at layer K:
 * `onnx/decoder_prefix.onnx` runs layers < K on the whole prompt and returns the hidden states entering
 * layer K plus the head-averaged attention of the last prompt token at layer K−1; the visual tokens are
 * selected from those; `onnx/decoder_suffix.onnx` runs layers ≥ K on the kept tokens only. Kept tokens keep
 * their original position ids and decoding continues from the original sequence length, so with nothing
 * pruned the result is the same as the whole decoder's. Batch size 1.
 *
 * The folder is a transformers.js LLaVA folder whose config.json has
 * `d2pruner: { split_layer, grid, split_files: { prefix, suffix } }` (see testbed/export.py).
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type * as Ort from 'onnxruntime-node';
import { ValidationError } from '../core/errors.js';

type OrtModule = typeof Ort;

/** What a layer-K selection sees for one image: its N tokens' hidden states (N×D) and raw attention. */
export interface LayerPruneInput {
  features: Float32Array;
  dims: [number, number];
  importance: Float32Array;
  grid: { rows: number; cols: number };
}

/**
 * Chooses the visual tokens to keep: indices in [0, N), ascending; optionally with replacement hidden states
 * for the kept tokens (n×D, e.g. VisionZip's merged tokens).
 */
export type LayerPruneFn = (
  input: LayerPruneInput,
) => Int32Array | { keep: Int32Array; features?: Float32Array } | Promise<Int32Array | { keep: Int32Array; features?: Float32Array }>;

/** Options of {@link SplitDecoderModel.generate}. */
export interface SplitGenerateOptions {
  /** One prompt row (the processor's `input_ids`), holding the image's N image tokens. */
  inputIds: ArrayLike<number | bigint>;
  /** The processor's `pixel_values` [1, 3, H, W]. */
  pixelValues: { data: ArrayLike<number>; dims: readonly number[] };
  /** Greedy decoding stops after this many tokens or at the end token. Default 8. */
  maxNewTokens?: number;
  /** Selection at layer K; omitted = nothing pruned. */
  prune?: LayerPruneFn;
}

/** Result of {@link SplitDecoderModel.generate}. */
export interface SplitGenerateResult {
  /** Generated token ids (the end token excluded). */
  tokens: number[];
  /** Kept visual-token indices (ascending), or null when nothing was pruned. */
  keep: Int32Array | null;
  /** Raw importance of every visual token (attention of the last prompt token at layer K−1). */
  importance: Float32Array;
  /** Sequence length entering layers < K and layers ≥ K. */
  sequence: { before: number; after: number };
  /** Vision encoder + embeddings + prefix + selection + suffix up to the first logits (ms). */
  prefillMs: number;
  /** Logits of the first generated position (vocabulary size). */
  firstLogits: Float32Array;
}

/** State after layers < K on the whole prompt (see {@link SplitDecoderModel.prefill}). */
export interface SplitPrefill {
  /** Prompt length. */
  length: number;
  /** Sequence index of each visual token. */
  imagePositions: number[];
  /** Hidden states entering layer K, [length·D]. */
  hidden: Float32Array;
  /** KV cache of layers < K. */
  cache: Map<string, Ort.Tensor>;
  /** Attention of the last prompt token at layer K−1 on each visual token. */
  importance: Float32Array;
  /** Hidden states of the visual tokens entering layer K, [N·D]. */
  features: Float32Array;
  /** Time spent (ms). */
  ms: number;
}

interface SplitConfig {
  imageTokenIndex: number;
  eosTokenId: number;
  hiddenSize: number;
  numLayers: number;
  splitLayer: number;
  kvHeads: number;
  headDim: number;
  grid: { rows: number; cols: number };
  files: { prefix: string; suffix: string };
}

type Cache = Map<string, Ort.Tensor>;

async function importOrt(): Promise<OrtModule> {
  try {
    return (await import('onnxruntime-node')) as unknown as OrtModule;
  } catch {
    throw new ValidationError('model', 'onnxruntime-node', 'is not installed (npm install onnxruntime-node)');
  }
}

function readSplitConfig(dir: string): SplitConfig {
  let config: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  try {
    config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  } catch {
    throw new ValidationError('model', dir, 'is not a model folder (no readable config.json)');
  }
  const split = config.d2pruner;
  const text = config.text_config ?? {};
  if (!split || !Number.isInteger(split.split_layer)) {
    throw new ValidationError('model', dir, 'has no split export (config.json d2pruner.split_layer); use mode "input"');
  }
  const heads = text.num_attention_heads;
  return {
    imageTokenIndex: config.image_token_index ?? config.image_token_id,
    eosTokenId: config.eos_token_id ?? text.eos_token_id,
    hiddenSize: text.hidden_size,
    numLayers: text.num_hidden_layers,
    splitLayer: split.split_layer,
    kvHeads: text.num_key_value_heads ?? heads,
    headDim: text.head_dim ?? text.hidden_size / heads,
    grid: split.grid,
    files: split.split_files ?? { prefix: 'onnx/decoder_prefix.onnx', suffix: 'onnx/decoder_suffix.onnx' },
  };
}

/** Whether a model folder has the split export that `mode: 'layer'` needs. */
export function hasSplitExport(dir: string): boolean {
  try {
    readSplitConfig(resolve(dir));
    return true;
  } catch {
    return false;
  }
}

/** The vision encoder, embeddings and split decoder of a model folder, on onnxruntime-node (CPU). */
export class SplitDecoderModel {
  private constructor(
    private readonly ort: OrtModule,
    readonly config: Readonly<SplitConfig>,
    private readonly sessions: Record<'vision' | 'embed' | 'prefix' | 'suffix', Ort.InferenceSession>,
  ) {}

  /**
   * Loads the sessions of a split-exported model folder.
   * @throws ValidationError (field `model`) when the folder has no split export.
   */
  static async load(dir: string, sessionOptions: Ort.InferenceSession.SessionOptions = {}): Promise<SplitDecoderModel> {
    const folder = resolve(dir);
    const config = readSplitConfig(folder);
    const ort = await importOrt();
    const open = (file: string) => ort.InferenceSession.create(join(folder, file), sessionOptions);
    const [vision, embed, prefix, suffix] = await Promise.all([
      open('onnx/vision_encoder.onnx'),
      open('onnx/embed_tokens.onnx'),
      open(config.files.prefix),
      open(config.files.suffix),
    ]);
    return new SplitDecoderModel(ort, Object.freeze(config), { vision, embed, prefix, suffix });
  }

  private int64(values: ArrayLike<number | bigint>, dims: number[]): Ort.Tensor {
    return new this.ort.Tensor('int64', BigInt64Array.from(Array.from(values, (v) => BigInt(v))), dims);
  }

  private ones(length: number): Ort.Tensor {
    return new this.ort.Tensor('int64', new BigInt64Array(length).fill(1n), [1, length]);
  }

  private emptyCache(first: number, last: number): Cache {
    const cache: Cache = new Map();
    const { kvHeads, headDim } = this.config;
    for (let i = first; i < last; i++) {
      for (const kind of ['key', 'value']) {
        cache.set(`past_key_values.${i}.${kind}`, new this.ort.Tensor('float32', new Float32Array(0), [1, kvHeads, 0, headDim]));
      }
    }
    return cache;
  }

  private static nextCache(outputs: Record<string, Ort.Tensor>): Cache {
    const cache: Cache = new Map();
    for (const [name, tensor] of Object.entries(outputs)) {
      if (name.startsWith('present.')) cache.set(name.replace('present.', 'past_key_values.'), tensor);
    }
    return cache;
  }

  /** Projected image features [N·D] for pixel values [1, 3, H, W]. */
  async imageFeatures(pixelValues: SplitGenerateOptions['pixelValues']): Promise<Float32Array> {
    const input = new this.ort.Tensor('float32', Float32Array.from(pixelValues.data), [...pixelValues.dims]);
    const out = await this.sessions.vision.run({ pixel_values: input });
    return out.image_features!.data as Float32Array;
  }

  /** Token embeddings [L·D]. */
  async embed(ids: ArrayLike<number | bigint>): Promise<Float32Array> {
    const out = await this.sessions.embed.run({ input_ids: this.int64(ids, [1, ids.length]) });
    return out.inputs_embeds!.data as Float32Array;
  }

  /** Layers < K on `length` new tokens. */
  private async runPrefix(embeds: Float32Array, length: number, positions: number[], cache: Cache, total: number) {
    const feeds: Record<string, Ort.Tensor> = {
      inputs_embeds: new this.ort.Tensor('float32', embeds, [1, length, this.config.hiddenSize]),
      attention_mask: this.ones(total),
      position_ids: this.int64(positions, [1, length]),
    };
    for (const [name, tensor] of cache) feeds[name] = tensor;
    const out = (await this.sessions.prefix.run(feeds)) as Record<string, Ort.Tensor>;
    return {
      hidden: out.hidden_states!.data as Float32Array,
      attention: out.attention!.data as Float32Array,
      cache: SplitDecoderModel.nextCache(out),
    };
  }

  /** Layers ≥ K on `length` new tokens; returns the logits of the last one. */
  private async runSuffix(hidden: Float32Array, length: number, positions: number[], cache: Cache, total: number) {
    const feeds: Record<string, Ort.Tensor> = {
      hidden_states: new this.ort.Tensor('float32', hidden, [1, length, this.config.hiddenSize]),
      attention_mask: this.ones(total),
      position_ids: this.int64(positions, [1, length]),
    };
    for (const [name, tensor] of cache) feeds[name] = tensor;
    const out = (await this.sessions.suffix.run(feeds)) as Record<string, Ort.Tensor>;
    const logits = out.logits!;
    const vocab = logits.dims[2]!;
    const data = logits.data as Float32Array;
    return { logits: data.slice((length - 1) * vocab, length * vocab), cache: SplitDecoderModel.nextCache(out) };
  }

  /**
   * Runs everything up to layer K once (vision encoder, embeddings, merge, layers < K on the whole prompt);
   * {@link decode} can then continue from it several times with different selections.
   * @throws ValidationError when the prompt's image tokens do not match the image features.
   */
  async prefill(inputIds: ArrayLike<number | bigint>, pixelValues: SplitGenerateOptions['pixelValues']): Promise<SplitPrefill> {
    const { hiddenSize: d, imageTokenIndex, splitLayer } = this.config;
    const ids = Array.from(inputIds, Number);
    const start = performance.now();
    const imagePositions = ids.flatMap((id, i) => (id === imageTokenIndex ? [i] : []));
    const features = await this.imageFeatures(pixelValues);
    const n = features.length / d;
    if (imagePositions.length !== n) {
      throw new ValidationError('inputIds', imagePositions.length, `must hold ${n} image tokens (one per image feature)`);
    }
    const embeds = await this.embed(ids);
    imagePositions.forEach((p, k) => embeds.set(features.subarray(k * d, (k + 1) * d), p * d));
    const prefix = await this.runPrefix(embeds, ids.length, ids.map((_, i) => i), this.emptyCache(0, splitLayer), ids.length);
    const importance = Float32Array.from(imagePositions, (p) => prefix.attention[p]!);
    const imageHidden = new Float32Array(n * d);
    imagePositions.forEach((p, k) => imageHidden.set(prefix.hidden.subarray(p * d, (p + 1) * d), k * d));
    return {
      length: ids.length,
      imagePositions,
      hidden: prefix.hidden,
      cache: prefix.cache,
      importance,
      features: imageHidden,
      ms: performance.now() - start,
    };
  }

  /**
   * Greedy decoding from a {@link prefill}, with optional pruning at layer K (batch size 1). The prefill is
   * not modified and can be reused.
   * @throws ValidationError when `prune` returns indices out of range, unsorted or repeated.
   */
  async decode(state: SplitPrefill, options: { prune?: LayerPruneFn; maxNewTokens?: number } = {}): Promise<SplitGenerateResult> {
    const { hiddenSize: d, splitLayer, numLayers, eosTokenId, grid } = this.config;
    const maxNewTokens = options.maxNewTokens ?? 8;
    const { length, imagePositions } = state;
    const n = imagePositions.length;
    const start = performance.now();
    const positions = Array.from({ length }, (_, i) => i);
    let keep: Int32Array | null = null;
    let replaced: Float32Array | undefined;
    let rows = positions;
    if (options.prune) {
      const chosen = await options.prune({ features: state.features, dims: [n, d], importance: state.importance, grid });
      keep = chosen instanceof Int32Array ? chosen : chosen.keep;
      replaced = chosen instanceof Int32Array ? undefined : chosen.features;
      if (replaced && replaced.length !== keep.length * d) {
        throw new ValidationError('features', replaced.length, `must hold ${keep.length}×${d} values (one row per kept token)`);
      }
      for (let i = 0; i < keep.length; i++) {
        if (!(keep[i]! >= 0 && keep[i]! < n) || (i > 0 && keep[i]! <= keep[i - 1]!)) {
          throw new ValidationError('keep', Array.from(keep), `must be ascending distinct indices in [0, ${n})`);
        }
      }
      const dropped = new Set(imagePositions);
      for (const k of keep) dropped.delete(imagePositions[k]!);
      rows = positions.filter((p) => !dropped.has(p));
    }
    const kept = new Float32Array(rows.length * d);
    rows.forEach((p, r) => kept.set(state.hidden.subarray(p * d, (p + 1) * d), r * d));
    if (keep && replaced) {
      const rowOf = new Map(rows.map((p, r) => [p, r]));
      keep.forEach((k, j) => kept.set(replaced!.subarray(j * d, (j + 1) * d), rowOf.get(imagePositions[k]!)! * d));
    }
    let suffix = await this.runSuffix(kept, rows.length, rows, this.emptyCache(splitLayer, numLayers), rows.length);
    const prefillMs = state.ms + performance.now() - start;
    const firstLogits = suffix.logits;

    const tokens: number[] = [];
    let prefixCache = state.cache;
    let prefixLength = length;
    let suffixLength = rows.length;
    for (let step = 0; step < maxNewTokens; step++) {
      const next = argmax(suffix.logits);
      if (next === eosTokenId) break;
      tokens.push(next);
      if (step === maxNewTokens - 1) break;
      const position = length + step;
      const e = await this.embed([next]);
      const p = await this.runPrefix(e, 1, [position], prefixCache, ++prefixLength);
      prefixCache = p.cache;
      suffix = await this.runSuffix(p.hidden, 1, [position], suffix.cache, ++suffixLength);
    }
    return { tokens, keep, importance: state.importance, sequence: { before: length, after: rows.length }, prefillMs, firstLogits };
  }

  /**
   * Greedy generation with optional pruning at layer K (batch size 1): {@link prefill} then {@link decode}.
   * @throws ValidationError when the prompt's image tokens do not match the image features, or `prune`
   *   returns indices out of range, unsorted or repeated.
   */
  async generate(options: SplitGenerateOptions): Promise<SplitGenerateResult> {
    const state = await this.prefill(options.inputIds, options.pixelValues);
    return this.decode(state, { prune: options.prune, maxNewTokens: options.maxNewTokens });
  }
}

function argmax(values: Float32Array): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}
