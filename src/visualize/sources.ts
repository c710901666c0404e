import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ValidationError } from '../core/errors.js';
import type { Grid } from '../core/types.js';
import { priorForLayout, resizeBilinear, type PositionalPrior } from '../importance/prior.js';
import { getMethod, select } from '../select.js';
import { imagePatchFeatures } from './image-features.js';
import { processorGeometry, tileRegions } from './regions.js';
import type { OverlayPanel, TileRegion } from './overlay.js';
import type { TokenPruningOptions } from '../adapters/transformers/types.js';
import { chatInputs } from '../adapters/transformers/prompt.js';
import { decoderFile, resolveSessionDtypes, type DtypeOption } from '../adapters/transformers/load.js';

/** Everything {@link renderOverlay} needs besides the image: what each method kept, on which layout. */
export interface MethodSelections {
  tokens: number;
  grid: Grid;
  regions?: TileRegion[];
  panels: OverlayPanel[];
  /** Raw importance per token (length N). */
  importance: Float32Array;
  /** The prior per token (length N) when one was used. */
  prior?: Float32Array;
  /** Where features and importance came from, for captions and logs. */
  source: string;
}

/** Options shared by both sources. */
export interface SelectionSourceOptions {
  image: string;
  prompt: string;
  methods: readonly string[];
  budget: number;
  prior?: PositionalPrior;
  /** Method options passed to every method that accepts them (e.g. `{ alpha: 0.5 }`). */
  methodOptions?: Record<string, unknown>;
  /** Called after each method. */
  onMethod?: (method: string) => void;
}

/**
 * Selections without a model: features and importance from {@link imagePatchFeatures} (colour and texture
 * statistics, a saliency proxy) on a 24×24 grid, or the prior's grid when a prior is given.
 */
export async function imageSelections(options: SelectionSourceOptions & { rows?: number; cols?: number }): Promise<MethodSelections> {
  const rows = options.rows ?? options.prior?.grid.rows ?? 24;
  const cols = options.cols ?? options.prior?.grid.cols ?? 24;
  const patches = await imagePatchFeatures(options.image, { rows, cols, prompt: options.prompt });
  const tokens = rows * cols;
  const prior = options.prior ? resizeBilinear(options.prior.values, options.prior.grid, { rows, cols }) : undefined;
  const panels: OverlayPanel[] = [];
  for (const method of options.methods) {
    const selection = select(
      { features: patches.features, dims: patches.dims, importance: patches.importance, prior, grid: patches.grid, budget: options.budget },
      { method, ...methodOptionsFor(method, options.methodOptions) } as never,
    );
    panels.push({ label: method, keep: selection.keep, roles: selection.roles });
    options.onMethod?.(method);
  }
  const words = patches.colourWords.length ? `; prompt colours: ${patches.colourWords.join(', ')}` : '';
  return { tokens, grid: patches.grid, panels, importance: patches.importance, prior, source: `image statistics (no model)${words}` };
}


/* eslint-disable @typescript-eslint/no-explicit-any -- transformers.js processors and models are untyped here */

/**
 * Selections from a transformers.js vision-language model in `modelDir` (loaded offline on the CPU, each session
 * in the precision `resolveSessionDtypes` picks: `dtype`, else the config's, else the smallest file): each
 * method runs inside the model through `withTokenPruning` on one prefill (`max_new_tokens: 1`), and the
 * report of that prefill gives the kept tokens, roles, importance and layout of the first image. With `layer`
 * K ≥ 1 the tokens are pruned before decoder layer K (`onnx/decoder_model_merged.onnx` split automatically;
 * importance = attention at layer K−1); 0 or omitted: at the decoder input. Needs the
 * optional peer dependency `@huggingface/transformers`.
 */
export async function modelSelections(options: SelectionSourceOptions & { modelDir: string; dtype?: DtypeOption; layer?: number }): Promise<MethodSelections> {
  let transformers: any;
  try {
    transformers = await import('@huggingface/transformers');
  } catch {
    throw new ValidationError('modelDir', options.modelDir, 'needs @huggingface/transformers installed (npm install @huggingface/transformers)');
  }
  const { withTokenPruning } = await import('../adapters/transformers/index.js');
  const dir = resolve(options.modelDir);
  let config: { model_type?: string };
  try {
    config = JSON.parse(readFileSync(resolve(dir, 'config.json'), 'utf8'));
  } catch {
    throw new ValidationError('modelDir', options.modelDir, 'is not a model folder (no readable config.json)');
  }
  transformers.env.allowRemoteModels = false;
  const processor = await transformers.AutoProcessor.from_pretrained(dir);
  const dtype = resolveSessionDtypes(dir, config, options.dtype);
  const model = await transformers.AutoModelForImageTextToText.from_pretrained(dir, { dtype, device: 'cpu' });
  const image = await transformers.RawImage.read(options.image);
  const inputs = await chatInputs(processor, config.model_type ?? '', image, options.prompt);

  const panels: OverlayPanel[] = [];
  let first: any = null;
  for (const method of options.methods) {
    const pruned: any = withTokenPruning(model, {
      method,
      budget: options.budget,
      prior: options.prior,
      tokenizer: processor,
      ...(options.layer ? { layer: options.layer, decoder: decoderFile({ dir, dtype }) } : {}),
      ...methodOptionsFor(method, options.methodOptions),
    } as TokenPruningOptions); // from flags: withTokenPruning checks method and options
    await pruned.generate({ ...inputs, max_new_tokens: 1, do_sample: false });
    const report = pruned.lastPruning;
    const picture = report?.images?.[0];
    if (!picture) throw new ValidationError('image', options.image, 'produced no visual tokens in this model\'s prompt');
    first ??= picture;
    panels.push({ label: method, keep: picture.keep, roles: picture.roles });
    options.onMethod?.(method);
  }
  const tokens: number = first.before;
  const grid: Grid = first.grid ?? squareOrRow(tokens);
  const tiles = 'tiles' in grid ? grid.tiles : [{ start: 0, rows: grid.rows, cols: grid.cols }];
  const prior = options.prior ? priorForLayout(options.prior, { tokens, tiles }) : undefined;
  return {
    tokens,
    grid,
    regions: tileRegions(grid, processorGeometry(processor, inputs, image.width, image.height)),
    panels,
    importance: first.importance,
    prior,
    source: `${config.model_type} model ${options.modelDir}${options.layer ? `, layer ${options.layer}` : ''}`,
  };
}

function squareOrRow(tokens: number): Grid {
  const side = Math.round(Math.sqrt(tokens));
  return side * side === tokens ? { rows: side, cols: side } : { rows: 1, cols: tokens };
}

/** Only the options a method accepts (its schema's keys): `alpha` goes to d2pruner, `seed` to random, and so on. */
function methodOptionsFor(method: string, options: Record<string, unknown> | undefined): Record<string, unknown> {
  if (!options) return {};
  const keys = Object.keys(getMethod(method).schema);
  return Object.fromEntries(Object.entries(options).filter(([key]) => keys.includes(key)));
}
