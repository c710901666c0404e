import { ValidationError } from './core/errors.js';
import { resolveBudget } from './core/validate.js';

/** The sizes of a decoder-only language model that its prefill FLOPs depend on. */
export interface DecoderShape {
  /** Hidden size d. */
  hiddenSize: number;
  /** MLP (intermediate) size m. */
  intermediateSize: number;
  /** Number of decoder layers. */
  layers: number;
  /** Query heads. */
  heads: number;
  /** Key/value heads (fewer than `heads` under grouped-query attention). */
  kvHeads: number;
  /** Width of one head (usually d / heads). */
  headDim: number;
  /** Gated MLP (SwiGLU: gate, up and down matrices) rather than two matrices. */
  gatedMlp: boolean;
}

/** A named model: its language model's shape and a typical visual-token count per image. */
export interface ModelPreset {
  shape: DecoderShape;
  /** Visual tokens the preset assumes when none are given. */
  visualTokens: number;
  /** Where `visualTokens` comes from (resolution, tiling). */
  visualTokensNote: string;
  /** The Hugging Face model the sizes were read from. */
  source: string;
}

function shape(hiddenSize: number, intermediateSize: number, layers: number, heads: number, kvHeads: number): DecoderShape {
  return Object.freeze({ hiddenSize, intermediateSize, layers, heads, kvHeads, headDim: hiddenSize / heads, gatedMlp: true });
}

/**
 * Language-model sizes of common VLMs, from each model's `config.json` (the `text_config`/`llm_config`
 * part). All of them use a gated (SwiGLU) MLP. `testbed` is not here: it is read from
 * `models/testbed/config.json` by the CLI at run time.
 */
export const modelPresets: Readonly<Record<string, ModelPreset>> = Object.freeze({
  'llava-1.5-7b': {
    shape: shape(4096, 11008, 32, 32, 32),
    visualTokens: 576,
    visualTokensNote: '336×336 image, 14-px patches: 24×24',
    source: 'llava-hf/llava-1.5-7b-hf (Vicuna-7B v1.5)',
  },
  'llava-1.5-13b': {
    shape: shape(5120, 13824, 40, 40, 40),
    visualTokens: 576,
    visualTokensNote: '336×336 image, 14-px patches: 24×24',
    source: 'llava-hf/llava-1.5-13b-hf (Vicuna-13B v1.5)',
  },
  'llava-next-7b': {
    shape: shape(4096, 11008, 32, 32, 32),
    visualTokens: 2880,
    visualTokensNote: 'AnyRes at most: 4 crops + 1 base image × 576',
    source: 'llava-hf/llava-v1.6-vicuna-7b-hf',
  },
  'qwen2-vl-2b': {
    shape: shape(1536, 8960, 28, 12, 2),
    visualTokens: 1024,
    visualTokensNote: 'dynamic, one token per 28×28 pixels: 896×896 image',
    source: 'Qwen/Qwen2-VL-2B-Instruct',
  },
  'qwen2-vl-7b': {
    shape: shape(3584, 18944, 28, 28, 4),
    visualTokens: 1024,
    visualTokensNote: 'dynamic, one token per 28×28 pixels: 896×896 image',
    source: 'Qwen/Qwen2-VL-7B-Instruct',
  },
  'qwen2.5-vl-3b': {
    shape: shape(2048, 11008, 36, 16, 2),
    visualTokens: 1024,
    visualTokensNote: 'dynamic, one token per 28×28 pixels: 896×896 image',
    source: 'Qwen/Qwen2.5-VL-3B-Instruct',
  },
  'qwen2.5-vl-7b': {
    shape: shape(3584, 18944, 28, 28, 4),
    visualTokens: 1024,
    visualTokensNote: 'dynamic, one token per 28×28 pixels: 896×896 image',
    source: 'Qwen/Qwen2.5-VL-7B-Instruct',
  },
  'internvl2.5-8b': {
    shape: shape(4096, 14336, 32, 32, 8),
    visualTokens: 2560,
    visualTokensNote: 'square image ≥ 1,344 px: 3×3 tiles + thumbnail, 256 each',
    source: 'OpenGVLab/InternVL2_5-8B (InternLM2.5-7B-chat)',
  },
  'smolvlm-256m': {
    shape: shape(576, 1536, 30, 9, 3),
    visualTokens: 1088,
    visualTokensNote: 'square image at the default 2,048 px: 4×4 tiles + global image, 64 each',
    source: 'HuggingFaceTB/SmolVLM-256M-Instruct (SmolLM2-135M)',
  },
  'smolvlm-2.2b': {
    shape: shape(2048, 8192, 24, 32, 32),
    visualTokens: 1377,
    visualTokensNote: 'square image at the default 1,536 px: 4×4 tiles + global image, 81 each',
    source: 'HuggingFaceTB/SmolVLM-Instruct (SmolLM2-1.7B)',
  },
  'fastvlm-0.5b': {
    shape: shape(896, 4864, 24, 14, 2),
    visualTokens: 256,
    visualTokensNote: '1024×1024 image, FastViTHD (64× downsampling): 16×16',
    source: 'apple/FastVLM-0.5B (Qwen2-0.5B)',
  },
} satisfies Record<string, ModelPreset>);

/** How to count. */
export type FlopsVariant = 'convention' | 'exact';

/**
 * Prefill FLOPs of one decoder layer for `tokens` tokens.
 *
 * - `convention` (default; FastV, DART, D2Pruner): 4nd² + 2n²d + 2ndm. Four d×d attention projections,
 *   QKᵀ and AV, a two-matrix MLP; one multiply–add counts as one operation.
 * - `exact`: the same units, but the projections use the real widths (q and o: d × heads·headDim; k and v:
 *   d × kvHeads·headDim, smaller under grouped-query attention), attention 2n²·heads·headDim, and three
 *   MLP matrices when the MLP is gated (SwiGLU). Norms, softmax, rotary embeddings, the causal mask's
 *   saving and the LM head are left out in both.
 */
export function layerFlops(tokens: number, decoder: DecoderShape, variant: FlopsVariant = 'convention'): number {
  const n = tokens;
  const d = decoder.hiddenSize;
  const m = decoder.intermediateSize;
  if (variant === 'convention') return 4 * n * d * d + 2 * n * n * d + 2 * n * d * m;
  const qWidth = decoder.heads * decoder.headDim;
  const kvWidth = decoder.kvHeads * decoder.headDim;
  const projections = 2 * n * d * qWidth + 2 * n * d * kvWidth;
  const attention = 2 * n * n * qWidth;
  const mlp = (decoder.gatedMlp ? 3 : 2) * n * d * m;
  return projections + attention + mlp;
}

/** Options for {@link computeFlops}. */
export interface FlopsOptions {
  /** Visual tokens per image before pruning (N, an integer ≥ 1). */
  visualTokens: number;
  /** Visual tokens kept: an integer in [1, N] or a fraction in (0, 1) of N. */
  budget: number;
  /** First decoder layer that sees only the kept tokens (K). 0 = pruning at the input. Default 2. */
  layer?: number;
  /** Text tokens counted with the visual ones (they are never pruned). Default 0: visual-token FLOPs only. */
  textTokens?: number;
  /** Counting rule, see {@link layerFlops}. Default `convention`. */
  variant?: FlopsVariant;
}

/** What {@link computeFlops} returns. FLOPs are for the decoder layers' prefill. */
export interface FlopsReport {
  /** FLOPs without pruning. */
  before: number;
  /** FLOPs with pruning at layer K. */
  after: number;
  /** 1 − after/before, in [0, 1). */
  reduction: number;
  visualTokens: number;
  keptTokens: number;
  textTokens: number;
  layer: number;
  layers: number;
  variant: FlopsVariant;
}

export const flopsDefaults = Object.freeze({ layer: 2, textTokens: 0, variant: 'convention' as FlopsVariant });

/**
 * Prefill FLOPs before and after visual-token pruning: layers 0…K−1 process all N visual (+ T text)
 * tokens, layers K…L−1 only the n kept ones (+ T). As in the papers, T = 0 by default, so the reduction
 * is that of the visual-token FLOPs. LLaVA-1.5-7B, 576 → 128 at K = 2: 73.4% saved.
 *
 * @throws ValidationError naming the field for a bad shape, token count, budget, layer or variant.
 */
export function computeFlops(decoder: DecoderShape, options: FlopsOptions): FlopsReport {
  checkShape(decoder);
  const visualTokens = checkInteger(options.visualTokens, 'visualTokens', 1);
  const keptTokens = resolveBudget(options.budget, visualTokens);
  const layer = checkInteger(options.layer ?? flopsDefaults.layer, 'layer', 0, decoder.layers);
  const textTokens = checkInteger(options.textTokens ?? flopsDefaults.textTokens, 'textTokens', 0);
  const variant = options.variant ?? flopsDefaults.variant;
  if (variant !== 'convention' && variant !== 'exact') {
    throw new ValidationError('variant', variant, 'must be "convention" or "exact"');
  }
  const full = layerFlops(visualTokens + textTokens, decoder, variant);
  const pruned = layerFlops(keptTokens + textTokens, decoder, variant);
  const before = decoder.layers * full;
  const after = layer * full + (decoder.layers - layer) * pruned;
  return {
    before,
    after,
    reduction: before > 0 ? 1 - after / before : 0,
    visualTokens,
    keptTokens,
    textTokens,
    layer,
    layers: decoder.layers,
    variant,
  };
}

/** transformers' class defaults for keys a config.json may leave out. */
const CLASS_DEFAULTS: Readonly<Record<string, Readonly<Record<string, number>>>> = Object.freeze({
  llama: { hidden_size: 4096, intermediate_size: 11008, num_hidden_layers: 32, num_attention_heads: 32 },
});

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

const GATED_MODEL_TYPES = new Set([
  'llama', 'mistral', 'mixtral', 'qwen2', 'qwen2_vl', 'qwen2_5_vl', 'qwen2_vl_text', 'qwen2_5_vl_text', 'qwen3',
  'internlm2', 'gemma', 'gemma2', 'gemma3', 'gemma3_text', 'phi3', 'smollm3', 'llava_qwen2', 'olmo', 'olmo2',
]);

/**
 * Reads a decoder shape from a transformers-style `config.json` object: the `text_config` (LLaVA,
 * Idefics3/SmolVLM) or `llm_config` (InternVL) part when present, else the top level (Qwen2-VL, LLaMA).
 * Accepts the usual key aliases (`n_embd`, `n_layer`, `n_head`, `n_inner`, …). The MLP counts as gated
 * when `hidden_act` is SiLU/SwiGLU or the model type is a known SwiGLU family.
 *
 * @throws ValidationError naming the missing or bad key.
 */
export function decoderShapeFromConfig(config: unknown): DecoderShape {
  if (!isObject(config)) {
    throw new ValidationError('config', config, 'must be a JSON object');
  }
  const top = config as Record<string, unknown>;
  const partKey = (['text_config', 'llm_config'] as const).find((key) => isObject(top[key]));
  const part = (partKey ? top[partKey] : top) as Record<string, unknown>;
  const prefix = partKey ? `${partKey}.` : '';
  // transformers omits keys equal to the class defaults (llava-hf's text_config has no sizes at all).
  const classDefaults = CLASS_DEFAULTS[String(part.model_type ?? '')] ?? {};
  const read = (keys: string[], fallback?: number): number => {
    for (const key of keys) {
      if (part[key] !== undefined && part[key] !== null) return checkInteger(part[key], `config.${prefix}${key}`, 1);
    }
    const classDefault = classDefaults[keys[0]!];
    if (classDefault !== undefined) return classDefault;
    if (fallback !== undefined) return fallback;
    throw new ValidationError(`config.${prefix}${keys[0]}`, undefined, `is missing (also tried ${keys.slice(1).join(', ')})`);
  };
  const hiddenSize = read(['hidden_size', 'n_embd', 'd_model']);
  const layers = read(['num_hidden_layers', 'n_layer', 'num_layers']);
  const heads = read(['num_attention_heads', 'n_head', 'num_heads']);
  const intermediateSize = read(['intermediate_size', 'n_inner', 'ffn_dim'], 4 * hiddenSize);
  const kvHeads = read(['num_key_value_heads', 'num_kv_heads'], heads);
  const headDim = read(['head_dim'], Math.floor(hiddenSize / heads));
  const act = String(part.hidden_act ?? part.activation_function ?? '').toLowerCase();
  const modelType = String(part.model_type ?? '').toLowerCase();
  const gatedMlp = act === 'silu' || act === 'swiglu' || GATED_MODEL_TYPES.has(modelType);
  return Object.freeze({ hiddenSize, intermediateSize, layers, heads, kvHeads, headDim, gatedMlp });
}

/**
 * A best guess of the visual tokens per image from a VLM `config.json`: `image_seq_len`, `image_seq_length` or
 * `mm_tokens_per_image` when given; else (vision image size / patch size)² reduced by the pixel-shuffle
 * `scale_factor`² or the `spatial_merge_size`². Returns undefined when the config says nothing usable.
 */
export function visualTokensFromConfig(config: unknown): number | undefined {
  if (!isObject(config)) return undefined;
  const top = config as Record<string, unknown>;
  for (const key of ['image_seq_len', 'image_seq_length', 'mm_tokens_per_image', 'num_image_tokens', 'visual_tokens']) {
    const value = top[key];
    if (typeof value === 'number' && Number.isInteger(value) && value > 0) return value;
  }
  const vision = top.vision_config as Record<string, unknown> | undefined;
  if (!vision || typeof vision !== 'object') return undefined;
  const imageSize = Number(vision.image_size ?? top.force_image_size);
  const patchSize = Number(vision.patch_size);
  if (!(imageSize > 0 && patchSize > 0)) return undefined;
  const side = Math.floor(imageSize / patchSize);
  // Per-side reduction: Idefics3 pixel shuffle (scale_factor 4), Qwen2-VL merge (2), InternVL (ratio 0.5).
  const ratio = Number(top.downsample_ratio);
  const reduce = Number(top.scale_factor ?? vision.spatial_merge_size ?? (ratio > 0 ? 1 / ratio : 1));
  const tokens = reduce >= 1 ? Math.floor(side / reduce) ** 2 : 0;
  return tokens > 0 ? tokens : undefined;
}

function checkShape(decoder: DecoderShape): void {
  if (decoder === null || typeof decoder !== 'object') throw new ValidationError('shape', decoder, 'must be an object');
  for (const key of ['hiddenSize', 'intermediateSize', 'layers', 'heads', 'kvHeads', 'headDim'] as const) {
    checkInteger(decoder[key], `shape.${key}`, 1);
  }
}

function checkInteger(value: unknown, field: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `an integer ≥ ${min}` : `an integer in [${min}, ${max}]`;
    throw new ValidationError(field, value, `must be ${range}`);
  }
  return value;
}
