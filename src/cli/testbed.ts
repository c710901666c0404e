import { resolve } from 'node:path';
import type { Command } from 'commander';
import { stringifyPrior } from '../importance/prior.js';
import { describePriorBias, formatPriorBias } from '../importance/prior-bias.js';
import { checkDatasetOutput, writeDataset } from '../testbed/dataset.js';
import { listImages, priorHeatmap } from './calibrate.js';
import { writeAtomic } from './files.js';
import { integerFlag } from './flags.js';
import { checkOutputFile } from '../io/folders.js';
import { checkModelFiles } from '../io/model-files.js';
import { TESTBED_MODEL } from './eval.js';
import { createProgress } from './progress.js';
import { UsageError } from './errors.js';

interface PriorFlags {
  model?: string;
  images: string;
  prompt: string;
  limit?: string;
  out: string;
  quiet?: boolean;
}

interface GenerateFlags {
  seed: string;
  count: string;
  questions: string;
  out?: string;
  png: boolean;
  raw?: boolean;
  quiet?: boolean;
}

function parseInteger(value: string, flag: string): number {
  if (!/^\d+$/.test(value.trim())) throw new UsageError(`${flag} must be a non-negative integer (got ${JSON.stringify(value)})`);
  return Number(value);
}

/** `d2pruner testbed generate`: the synthetic scenes and questions the testbed VLM is trained and evaluated on. */
export function registerTestbed(program: Command): void {
  const testbed = program.command('testbed').description('the shipped testbed VLM: data generation');
  testbed
    .command('generate')
    .description('write synthetic scenes (PNG) and questions (cases.jsonl) for the testbed VLM; deterministic per seed')
    .option('--seed <S>', 'generator seed (training and evaluation must use different seeds)', '0')
    .option('--count <N>', 'number of scenes', '400')
    .option('--questions <Q>', 'questions per scene (tasks cycle yesno, color, count, grounding)', '1')
    .option('--out <DIR>', 'output folder')
    .option('--no-png', 'skip the PNG images (training reads images.u8)')
    .option('--raw', 'also write images.u8 (raw RGB, 192x192x3 per scene)')
    .option('--quiet', 'no progress output')
    .action(async (flags: GenerateFlags) => {
      if (!flags.out) throw new UsageError('--out DIR is required');
      const count = parseInteger(flags.count, '--count');
      const seed = parseInteger(flags.seed, '--seed');
      const questions = parseInteger(flags.questions, '--questions');
      checkDatasetOutput(flags.out, '--out');
      const progress = createProgress({ total: count, label: 'generate', quiet: flags.quiet });
      // Ctrl-C stops between scenes; writeDataset removes its temporary folder and leaves --out as it was.
      const interrupt = new AbortController();
      const onSignal = () => interrupt.abort();
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      let cases: number;
      try {
        cases = await writeDataset({ seed, count, questions, out: flags.out, png: flags.png, raw: flags.raw, signal: interrupt.signal, onProgress: (done) => progress.update(done) });
      } catch (error) {
        if (interrupt.signal.aborted) {
          progress.stop();
          process.stderr.write(`d2pruner: interrupted; ${flags.out} was left as it was\n`);
          process.exit(130);
        }
        throw error;
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        progress.stop();
      }
      if (!flags.quiet) process.stderr.write(`wrote ${count} scenes and ${cases} cases to ${flags.out}\n`);
    });

  testbed
    .command('prior')
    .description('positional prior for pruning at layer 2: mean attention of the last prompt token at layer 1 per grid position (heat-map PNG beside it); the same as d2pruner calibrate --layer 2')
    .option('--model <dir>', 'model folder (default: the shipped testbed model)')
    .requiredOption('--images <dir>', 'folder of calibration images')
    .option('--prompt <text>', 'one generic prompt for every image', 'what is there?')
    .option('--limit <n>', 'use at most n images')
    .requiredOption('--out <file>', 'prior JSON to write')
    .option('--quiet', 'no progress output')
    .action(async (flags: PriorFlags) => {
      const model = resolve(flags.model ?? TESTBED_MODEL);
      let limit: number | undefined;
      if (flags.limit !== undefined) {
        limit = integerFlag(flags.limit, '--limit');
      }
      checkModelFiles(model);
      const out = checkOutputFile(flags.out);
      checkOutputFile(out.replace(/\.json$/i, '') + '.png', '--out (its heat-map PNG)');
      const images = listImages(flags.images, limit);
      // The one calibrate path (d2pruner calibrate --layer 2): the attention at layer 1 of the automatically split decoder.
      const { loadVisionLanguageModel, promptInputs, readImage, decoderFile } = await import('../adapters/transformers/load.js');
      const { calibratePrior } = await import('../adapters/transformers/calibrate.js');
      const loaded = await loadVisionLanguageModel(model);
      const progress = createProgress({ total: images.length, label: 'prior', quiet: flags.quiet });
      async function* inputs() {
        for (const path of images) yield await promptInputs(loaded, await readImage(loaded.transformers, path, '--images'), flags.prompt);
      }
      const prior = await calibratePrior(loaded.model, inputs(), { prompt: flags.prompt, modelId: flags.model ?? 'models/testbed', layer: 2, decoder: decoderFile(loaded), onProgress: (d) => progress.update(d) });
      progress.stop();
      writeAtomic(resolve(flags.out), `${stringifyPrior(prior)}\n`);
      writeAtomic(resolve(flags.out).replace(/\.json$/i, '') + '.png', await priorHeatmap(prior));
      process.stdout.write(`wrote ${flags.out} (${prior.provider}, ${prior.imageCount} images)\n`);
      process.stdout.write(`bias: ${formatPriorBias(describePriorBias(prior))}\n`);
    });
}
