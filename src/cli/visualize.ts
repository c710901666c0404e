import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { readPriorFile, writeAtomic } from './files.js';
import { checkOutputFile } from '../io/folders.js';
import { checkModelFiles } from '../io/model-files.js';
import { budgetFlag, DTYPE_HELP, dtypeFlag, integerFlag, numberFlag } from './flags.js';
import { ValidationError } from '../core/errors.js';
import { getMethod } from '../select.js';
import sharp from 'sharp';
import { checkOverlayImage, renderOverlay } from '../visualize/overlay.js';
import { imageSelections, modelSelections } from '../visualize/sources.js';
import { UsageError } from './errors.js';
import { createProgress } from './progress.js';

interface VisualizeFlags {
  dtype?: string;
  image?: string;
  prompt?: string;
  model?: string;
  methods: string;
  budget: string;
  out: string;
  prior?: string;
  alpha?: string;
  grid?: string;
  width: string;
  importance?: boolean;
  layer: string;
  quiet?: boolean;
}

/** `d2pruner visualize`: one overlay PNG showing which visual tokens each method keeps. */
export function registerVisualize(program: Command): void {
  program
    .command('visualize')
    .description('Draw which visual tokens each method keeps, side by side, as a PNG')
    .option('--image <file>', 'the image (PNG, JPEG, WebP, …)')
    .option('--prompt <text>', 'the question asked about the image')
    .option('--model <dir>', 'a transformers.js VLM folder (LLaVA/FastVLM, Qwen2-VL, Idefics3/SmolVLM); without it, image statistics stand in for a model')
    .option('--methods <list>', 'comma-separated methods, one panel each', 'd2pruner,fastv,divprune')
    .option('--budget <n>', 'visual tokens kept per image: an integer or a fraction in (0, 1)', '64')
    .option('--out <file>', 'where to write the PNG', 'overlay.png')
    .option('--prior <file>', 'positional prior JSON (from d2pruner calibrate); adds a prior panel')
    .option('--alpha <a>', 'd2pruner semantic weight α (1 = semantic only, 0.5 for grounding)')
    .option('--grid <RxC>', 'patch grid without a model', '24x24')
    .option('--width <px>', 'width of each panel', '320')
    .option('--importance', 'add a panel with the raw importance')
    .option('--layer <K>', 'with --model: prune before decoder layer K (importance = attention at layer K-1, the decoder split automatically); 0 = at the decoder input (2 as in generate and eval)', '2')
    .option('--dtype <dtype>', `${DTYPE_HELP}; with --model`)
    .option('--quiet', 'print nothing but errors')
    .action(async (flags: VisualizeFlags) => {
      await runVisualize(flags);
    });
}

async function runVisualize(flags: VisualizeFlags): Promise<void> {
  if (!flags.image) throw new UsageError('--image is required');
  if (flags.prompt === undefined) throw new UsageError('--prompt is required');
  if (!existsSync(flags.image)) throw new ValidationError('--image', flags.image, 'file not found');
  const methods = flags.methods.split(',').map((m) => m.trim()).filter(Boolean);
  if (methods.length === 0) throw new ValidationError('--methods', flags.methods, 'must name at least one method');
  for (const method of methods) {
    try {
      getMethod(method);
    } catch (error) {
      throw new ValidationError('--methods', method, (error as ValidationError).message.replace(/^method: /, '').replace(/ \(got .*\)$/, ''));
    }
  }
  const budget = budgetFlag(flags.budget);
  const dtype = flags.dtype === undefined ? undefined : dtypeFlag(flags.dtype);
  if (dtype !== undefined && !flags.model) throw new ValidationError('--dtype', flags.dtype, 'needs --model');
  const width = integerFlag(flags.width, '--width', 64);
  if (width > 4096) throw new ValidationError('--width', flags.width, 'must be an integer in [64, 4096]');
  checkOutputFile(flags.out);
  await checkImage(flags.image);
  const prior = flags.prior ? readPriorFile(flags.prior) : undefined;
  const methodOptions = flags.alpha !== undefined ? { alpha: numberFlag(flags.alpha, '--alpha') } : undefined;
  if (!/^\d+$/.test(flags.layer.trim())) throw new ValidationError('--layer', flags.layer, 'must be an integer ≥ 0 (0 = the decoder input)');
  const layer = Number(flags.layer);

  const progress = createProgress({ total: methods.length, label: 'visualize', quiet: flags.quiet });
  const common = { image: flags.image, prompt: flags.prompt, methods, budget, prior, methodOptions, onMethod: () => progress.tick() };
  let result;
  try {
    if (flags.model) {
      checkModelFiles(flags.model);
      result = await modelSelections({ ...common, modelDir: flags.model, dtype, layer });
    } else {
      const [rows, cols] = parseGrid(flags.grid ?? '24x24');
      result = await imageSelections({ ...common, rows, cols });
    }
  } finally {
    progress.stop();
  }
  const heatmaps = [];
  if (flags.importance) heatmaps.push({ label: 'raw importance', values: result.importance });
  if (result.prior) heatmaps.push({ label: 'positional prior', values: result.prior });
  const png = await renderOverlay({
    image: flags.image,
    tokens: result.tokens,
    grid: result.grid,
    regions: result.regions,
    panels: result.panels,
    heatmaps,
    title: `“${flags.prompt}” · budget ${flags.budget} · ${result.source}`,
    panelWidth: width,
  });
  try {
    writeAtomic(flags.out, png);
  } catch (error) {
    throw new ValidationError('--out', flags.out, `cannot be written (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  if (!flags.quiet) {
    const counts = result.panels.map((p) => `${p.label} ${p.keep.length}/${result.tokens}`).join(', ');
    process.stderr.write(`visualize: wrote ${flags.out} (${counts}; ${result.source})\n`);
  }
}

/** The image must be readable and of a drawable shape; checked before any selection runs. */
async function checkImage(path: string): Promise<void> {
  let meta;
  try {
    meta = await sharp(path).metadata();
  } catch (error) {
    throw new ValidationError('--image', path, `cannot be read as an image (${(error as Error).message.split('\n')[0]})`);
  }
  checkOverlayImage(meta.width ?? 1, meta.height ?? 1, '--image');
}

function parseGrid(text: string): [number, number] {
  const match = /^(\d+)x(\d+)$/.exec(text.trim());
  if (!match) throw new ValidationError('--grid', text, 'must look like 24x24');
  return [Number(match[1]), Number(match[2])];
}

