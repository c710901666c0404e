import type { MethodName } from '../../methods/registry.js';
import type { MethodOptionsMap } from '../../select.js';
import type { Grid } from '../../core/types.js';
import type { ImportanceCallback, ImportanceName } from '../../importance/types.js';
import type { PositionalPrior, TileLayout } from '../../importance/prior.js';

/**
 * The subset of a transformers.js tensor the adapters use. Declared structurally so that this package needs
 * `@huggingface/transformers` only at the caller's side (it is an optional peer dependency).
 */
export interface TensorLike {
  type: string;
  data: ArrayLike<number | bigint> & { length: number };
  dims: number[];
  to?(type: string): TensorLike;
}

/** The subset of a transformers.js vision-language model instance the adapters use. */
export interface VisionLanguageModelLike {
  config: { model_type: string; [key: string]: unknown };
  sessions: Record<string, { inputNames: readonly string[]; outputNames: readonly string[]; run?: unknown }>;
  forward(modelInputs: Record<string, unknown>): Promise<Record<string, unknown>>;
  generate(options: Record<string, unknown>): Promise<unknown>;
  encode_text(inputs: Record<string, unknown>): Promise<TensorLike>;
  encode_image(inputs: Record<string, unknown>): Promise<TensorLike>;
  _merge_input_ids_with_image_features(kwargs: Record<string, unknown>): { inputs_embeds: TensorLike; attention_mask: TensorLike };
  get_rope_index?(...args: unknown[]): [TensorLike, TensorLike];
}

/** A tokenizer (or a processor holding one) used to find template and special tokens of the prompt. */
export interface TokenizerLike {
  all_special_ids?: readonly number[];
  apply_chat_template?(messages: unknown[], options?: Record<string, unknown>): unknown;
  tokenizer?: TokenizerLike;
}

/** Options of {@link withTokenPruning}. Keys other than the ones below are passed to the selection method. */
/**
 * Options of {@link withTokenPruning}: `method` plus that method's options (typed per method, as `select`'s
 * are, so a misspelt option is a compile error) and the adapter options below.
 */
export type TokenPruningOptions = {
  [M in MethodName]: PruningAdapterOptions & { method: M } & Partial<MethodOptionsMap[M]>;
}[MethodName];

/** The adapter's own options (everything but the method and its options). */
export interface PruningAdapterOptions {
  /** Visual tokens to keep per image: an integer in [1, N] or a fraction in (0, 1) of that image's N tokens. */
  budget: number;
  /**
   * Positional prior for D2Pruner's debiasing: a calibrated {@link PositionalPrior} (resized bilinearly to
   * each image's grid, per tile for tiled images) or raw per-token values (length N of every image).
   */
  prior?: PositionalPrior | Float32Array;
  /**
   * `'original'` (default): kept tokens and the text after the image keep their original RoPE positions and
   * decoding continues from the original sequence length. `'compact'`: positions are renumbered 0…L'−1
   * (for M-RoPE models on all three axes, i.e. as a text-only sequence).
   */
  positions?: 'original' | 'compact';
  /** Where raw importance comes from. Default `'promptRelevance'`. */
  importance?: ImportanceName | ImportanceCallback;
  /** Tokenizer or processor: its special tokens and chat-template tokens are excluded from the prompt text. */
  tokenizer?: TokenizerLike;
  /** More token ids to exclude from the prompt text used by `promptRelevance`. */
  excludeTokenIds?: Iterable<number>;
  /** For `importance: 'attention'`: the decoder output holding the last prompt token's attention. */
  attentionOutput?: string;
  /**
   * Decoder layer K to prune before (the paper's setting, K = 2): the stock decoder is split at K once
   * (layer-split.ts), the importance is the last prompt token's attention at layer K−1 and the features are
   * the hidden states entering layer K. 0 or omitted: prune at the decoder input. Batch size 1.
   */
  layer?: number;
  /** For `layer` ≥ 1: the decoder's ModelProto bytes or (Node) the path of its `.onnx` file, to split. */
  decoder?: Uint8Array | string;
}

/** What happened to one image in the last pruned prefill. */
export interface ImagePruning {
  /** Prompt row of the batch the image belongs to. */
  row: number;
  /** Visual tokens of the image before pruning (N). */
  before: number;
  /** Visual tokens kept. */
  after: number;
  /** Kept token indices within the image, ascending. */
  keep: Int32Array;
  /** Role per kept token: 0 pivot, 1 mis, 2 fill. */
  roles: Uint8Array;
  /** The raw importance every token had (length N). */
  importance: Float32Array;
  /** The image's token layout (a grid or tiles), when known. */
  grid?: Grid;
  /** Sequence index of each of the image's N tokens in the unpruned prompt. */
  tokenPositions: Int32Array;
  /** Time spent in the selection method for this image (ms). */
  selectMs: number;
}

/** Report of the last pruned prefill (`pruned.lastPruning`). Totals cover every image of every prompt row. */
export interface PruningReport {
  method: string;
  positions: 'original' | 'compact';
  /** Decoder layer the tokens were pruned before (absent: at the decoder input). */
  layer?: number;
  /** Where the importance came from, for layer-K pruning: the attention at layer K−1. */
  importance?: 'attention';
  /** Prompts in the batch. */
  batch: number;
  /** Visual tokens before pruning, all images. */
  before: number;
  /** Visual tokens sent to the decoder, all images. */
  after: number;
  /** Kept indices into the concatenation of all images' visual tokens, ascending. */
  keep: Int32Array;
  /** Role per entry of `keep`. */
  roles: Uint8Array;
  /** Selection time, all images (ms). */
  selectMs: number;
  /** Importance time, all images (ms). */
  importanceMs: number;
  /** Whole prefill step: embeddings, vision encoder, importance, selection and the decoder (ms). */
  prefillMs: number;
  /** Sequence length before and after pruning (after: the longest row; shorter rows are left-padded). */
  sequence: { before: number; after: number };
  /** Per image, in sequence order. */
  images: ImagePruning[];
  /** Where the prefill's time went, step by step. */
  timings: PrefillTimings;
}

/**
 * Where a pruned prefill's time went (ms), measured around the wrapper's own steps. The model's sessions are
 * `textEmbedMs`, `visionMs`, `scoringDecoderMs` and `decoderMs`; `overheadMs` is the rest of the prefill, the
 * time pruning spends in JavaScript (merge, importance, selection, gather, bookkeeping). A caller that times
 * the first token gets the whole overhead as TTFT − visionMs − scoringDecoderMs − decoderMs (plus the
 * host's own generate() setup and sampling, which the unpruned model pays too).
 */
export interface PrefillTimings {
  /** The prompt's text embeddings (the embed_tokens session). */
  textEmbedMs: number;
  /** The vision encoder. */
  visionMs: number;
  /** Image features merged into the embeddings. */
  mergeMs: number;
  /**
   * Decoder runs made for the importance: layers < K on the whole prompt (layer K), or the unpruned run of
   * `importance: 'attention'`; 0 for prompt relevance and callbacks.
   */
  scoringDecoderMs: number;
  /** Importance computed in JavaScript: prompt relevance, a callback, reading the attention row. */
  scoringMs: number;
  /** Selection, all images (the report's `selectMs`). */
  selectMs: number;
  /** Gathering the kept tokens (embeddings or hidden states, mask, positions) into the decoder's inputs. */
  gatherMs: number;
  /** The decoder on the kept tokens: the whole decoder, or layers ≥ K. */
  decoderMs: number;
  /** prefillMs − textEmbedMs − visionMs − scoringDecoderMs − decoderMs. */
  overheadMs: number;
  /**
   * True when the embeddings, the vision encoder and layers < K came from an earlier prefill of the same
   * prompt and pixel buffer (layer K, e.g. an evaluation trying several budgets): their times are then 0.
   */
  reused: boolean;
}

/** A model wrapped by {@link withTokenPruning}: the same API, pruning inside `forward`. */
export type PrunedModel<M> = M & {
  /** Report of the last pruned prefill, null before the first. */
  readonly lastPruning: PruningReport | null;
  /** The options in effect (validated, frozen). */
  readonly pruning: Readonly<TokenPruningOptions>;
  /** The original, unpatched model instance. */
  unwrap(): M;
};

/** One image found in a prompt row, before any session runs. */
export interface ImageSpan {
  /** Sequence index of each visual token. */
  positions: Int32Array;
  /** Token layout for the prior (tiles; tokens outside every tile have no position). */
  layout: TileLayout;
  /** The grid handed to the selection method, when the layout is known. */
  grid?: Grid;
}

/** What a model family contributes; everything else is shared (see pruning.ts). */
export interface FamilyAdapter {
  /** Family name used in messages. */
  family: string;
  /** `config.model_type` values handled. */
  modelTypes: readonly string[];
  /** True for M-RoPE models whose position_ids are [3, B, L]. */
  mrope: boolean;
  /**
   * Finds each image's visual tokens in one row of input ids (no session runs). `imageOffset` is the number
   * of images in the rows before this one (to index per-image inputs such as `image_grid_thw`).
   */
  locateImages(
    model: VisionLanguageModelLike,
    row: BigInt64Array,
    modelInputs: Record<string, unknown>,
    imageOffset?: number,
  ): ImageSpan[];
  /**
   * The token id transformers.js's stock merge scatters image features into for this family's classes (the
   * fast merge of merge.ts uses it; without it the host's own merge runs).
   */
  mergeTokenId?(model: VisionLanguageModelLike): number | undefined;
  /** Token ids that are template markers around images, excluded from the prompt text. */
  markerIds?(model: VisionLanguageModelLike, row: BigInt64Array, images: readonly ImageSpan[]): Iterable<bigint>;
  /** How this family's prompts carry images (used by the prompt builder, prompt.ts). */
  prompt: PromptRecipe;
}

/** A family's prompt conventions: where images go in a prompt and how its processor is called. */
export interface PromptRecipe {
  /** Text of one image in a rendered prompt, which the processor expands into the image's tokens. */
  imageText(processor: ProcessorLike): string;
  /**
   * What a string-content message puts before its text for each image, for string-only chat templates
   * (the model card's own recipe where there is one, e.g. FastVLM's `'<image>' + question`).
   */
  inlineImage(modelType: string, processor: ProcessorLike): string;
  /** Strings a user's prompt must not contain (image placeholders and markers the processor would expand). */
  reserved(processor: ProcessorLike): string[];
  /** `processor(images, text)` (LLaVA) rather than `processor(text, images)`. */
  imagesFirst: boolean;
  /** Options the family's recipe passes to the processor, e.g. `{ add_special_tokens: false }`. */
  processorOptions(modelType: string): Record<string, unknown>;
}

/** The subset of a transformers.js processor the prompt builder uses. */
export interface ProcessorLike {
  (...args: unknown[]): Promise<Record<string, unknown>>;
  apply_chat_template?(messages: unknown[], options?: Record<string, unknown>): unknown;
  chat_template?: unknown;
  config?: Record<string, unknown>;
  tokenizer?: { chat_template?: unknown };
}

/** A transformers.js Tensor constructor (taken from a tensor at hand, so this package never imports it). */
export type TensorCtor = new (type: string, data: ArrayLike<unknown>, dims: number[]) => TensorLike;
/** The model inputs transformers.js passes to `forward` (untyped there). */
export type ModelInputs = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
