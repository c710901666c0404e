import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import type { Command } from 'commander';
import sharp from 'sharp';
import { ValidationError } from '../core/errors.js';
import { describePriorBias, formatPriorBias } from '../importance/prior-bias.js';
import { stringifyPrior, type PositionalPrior } from '../importance/prior.js';
import { writeAtomic } from './files.js';
import { checkOutputFile } from '../io/folders.js';
import { checkModelFiles } from '../io/model-files.js';
import { DTYPE_HELP, dtypeFlag, integerFlag } from './flags.js';
import { createProgress } from './progress.js';

interface CalibrateFlags {
  dtype?: string;
  model: string;
  images: string;
  prompt: string;
  out: string;
  limit?: string;
  importance?: string;
  layer: string;
  quiet?: boolean;
}

const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg', '.webp', '.bmp', '.gif', '.tif', '.tiff']);

/** Image files of a folder, sorted by name. @throws ValidationError when the folder is missing or has none. */
export function listImages(dir: string, limit?: number): string[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ValidationError('--images', dir, 'folder not found');
  const files = readdirSync(dir)
    .filter((name) => IMAGE_EXTENSIONS.has(extname(name).toLowerCase()))
    .sort()
    .map((name) => join(dir, name));
  if (files.length === 0) throw new ValidationError('--images', dir, `holds no images (${[...IMAGE_EXTENSIONS].join(', ')})`);
  return limit === undefined ? files : files.slice(0, limit);
}

/** A heat-map PNG of a prior: one square cell per grid position, dark blue (low) → yellow (high). */
export async function priorHeatmap(prior: PositionalPrior, cell = 16): Promise<Buffer> {
  const { rows, cols } = prior.grid;
  const values = Array.from(prior.values);
  const low = Math.min(...values);
  const high = Math.max(...values);
  const width = cols * cell;
  const height = rows * cell;
  const pixels = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = values[Math.floor(y / cell) * cols + Math.floor(x / cell)]!;
      const t = high > low ? (v - low) / (high - low) : 0.5;
      const [r, g, b] = heatColour(t);
      const o = (y * width + x) * 3;
      pixels[o] = r;
      pixels[o + 1] = g;
      pixels[o + 2] = b;
    }
  }
  return sharp(pixels, { raw: { width, height, channels: 3 } }).png().toBuffer();
}

/** Viridis-like ramp through five anchors. */
function heatColour(t: number): [number, number, number] {
  const anchors: [number, number, number][] = [
    [68, 1, 84],
    [59, 82, 139],
    [33, 145, 140],
    [94, 201, 98],
    [253, 231, 37],
  ];
  const x = Math.min(Math.max(t, 0), 1) * (anchors.length - 1);
  const i = Math.min(Math.floor(x), anchors.length - 2);
  const f = x - i;
  const [a, b] = [anchors[i]!, anchors[i + 1]!];
  return [0, 1, 2].map((k) => Math.round(a[k]! + (b[k]! - a[k]!) * f)) as [number, number, number];
}

export function registerCalibrate(program: Command): void {
  program
    .command('calibrate')
    .description('record a positional prior: average raw importance per grid position over a folder of images (attention at layer K-1 for pruning at layer K)')
    .requiredOption('--model <dir>', 'local transformers.js model folder')
    .requiredOption('--images <dir>', 'folder of calibration images')
    .option('--prompt <text>', 'one generic prompt for every image', 'Describe the image.')
    .requiredOption('--out <file>', 'prior JSON to write (a heat-map PNG is written beside it)')
    .option('--limit <n>', 'use at most n images')
    .option('--layer <K>', 'the layer the prior is for: importance = the last prompt token\'s attention at layer K-1 of the automatically split decoder; 0 = the decoder input (2 as in generate and eval: on the testbed layer 2 keeps 97.8% at 64/576 tokens, the input 83.2%)', '2')
    .option('--importance <provider>', 'with --layer 0: promptRelevance (if omitted) or attention (a decoder that exports it)')
    .option('--dtype <dtype>', DTYPE_HELP)
    .option('--quiet', 'no progress output')
    .action(async (flags: CalibrateFlags) => {
      let limit: number | undefined;
      if (flags.limit !== undefined) {
        limit = integerFlag(flags.limit, '--limit');
      }
      if (!/^\d+$/.test(flags.layer.trim())) throw new ValidationError('--layer', flags.layer, 'must be an integer ≥ 0 (0 = the decoder input)');
      const layer = Number(flags.layer);
      if (flags.importance !== undefined && flags.importance !== 'promptRelevance' && flags.importance !== 'attention') {
        throw new ValidationError('--importance', flags.importance, 'must be promptRelevance or attention');
      }
      if (flags.importance !== undefined && layer > 0) throw new ValidationError('--importance', flags.importance, `applies to --layer 0 only; at layer ${layer} the importance is the attention at layer ${layer - 1}`);
      const dtype = flags.dtype === undefined ? undefined : dtypeFlag(flags.dtype);
      checkModelFiles(flags.model);
      const out = checkOutputFile(flags.out);
      checkOutputFile(out.replace(/\.json$/i, '') + '.png', '--out (its heat-map PNG)');
      const images = listImages(flags.images, limit);

      const { loadVisionLanguageModel, promptInputs, readImage, decoderFile } = await import('../adapters/transformers/load.js');
      const { calibratePrior } = await import('../adapters/transformers/calibrate.js');
      const loaded = await loadVisionLanguageModel(flags.model, { dtype });
      const progress = createProgress({ total: images.length, label: 'calibrate', quiet: flags.quiet });
      async function* inputs() {
        for (const path of images) {
          const image = await readImage(loaded.transformers, path, '--images');
          yield await promptInputs(loaded, image, flags.prompt);
        }
      }
      let prior: PositionalPrior;
      try {
        prior = await calibratePrior(loaded.model, inputs(), {
          prompt: flags.prompt,
          modelId: flags.model,
          ...(layer > 0 ? { layer, decoder: decoderFile(loaded) } : { importance: (flags.importance ?? 'promptRelevance') as 'promptRelevance' | 'attention' }),
          tokenizer: loaded.processor,
          onProgress: () => progress.tick(),
        });
      } finally {
        progress.stop();
      }
      const heatmapPath = out.replace(/\.json$/i, '') + '.png';
      writeAtomic(out, `${stringifyPrior(prior)}\n`);
      writeAtomic(heatmapPath, await priorHeatmap(prior));
      const values = Array.from(prior.values);
      const summary =
        `prior: ${prior.grid.rows}×${prior.grid.cols} from ${prior.imageCount} images (${prior.provider}), ` +
        `min ${Math.min(...values).toPrecision(3)}, max ${Math.max(...values).toPrecision(3)}`;
      if (!flags.quiet) process.stderr.write(`${summary}\n`);
      process.stdout.write(`wrote ${flags.out} and ${basename(heatmapPath)}\n`);
      process.stdout.write(`bias: ${formatPriorBias(describePriorBias(prior))}\n`);
    });
}
