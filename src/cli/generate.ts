import type { Command } from 'commander';
import { ValidationError } from '../core/errors.js';
import { checkModelFiles } from '../io/model-files.js';
import { methodNames } from '../methods/registry.js';
import { readPriorFile } from './files.js';
import { budgetFlag, DTYPE_HELP, dtypeFlag, integerFlag, methodFlag, numberFlag } from './flags.js';
import { TESTBED_MODEL } from './eval.js';
import type { TokenPruningOptions } from '../adapters/transformers/types.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- transformers.js models and processors are untyped here */

interface GenerateFlags {
  model?: string;
  image: string;
  prompt: string;
  method: string;
  budget: string;
  positions: string;
  prior?: string;
  maxNewTokens: string;
  alpha?: string;
  importance?: string;
  layer: string;
  json?: boolean;
  dtype?: string;
}

export function registerGenerate(program: Command): void {
  program
    .command('generate')
    .description('answer a prompt about an image with a transformers.js VLM, pruning its visual tokens')
    .option('--model <dir>', 'local transformers.js model folder (llava, llava_qwen2, qwen2_vl, qwen2_5_vl, idefics3, smolvlm) (default: the shipped testbed model)')
    .requiredOption('--image <file>', 'image file')
    .requiredOption('--prompt <text>', 'the question')
    .option('--method <name>', `selection method (${methodNames.join(', ')}) or none`, 'd2pruner')
    .option('--budget <n|fraction>', 'visual tokens kept per image: an integer or a fraction in (0, 1)', '64')
    .option('--positions <mode>', 'RoPE positions of the kept tokens: original or compact', 'original')
    .option('--prior <file>', 'positional prior JSON from d2pruner calibrate')
    .option('--alpha <value>', 'd2pruner semantic weight α (1 = features only, 0.5 = paper grounding setting)')
    .option('--layer <K>', 'prune inside the decoder before layer K (importance = the last prompt token\'s attention at layer K-1; the decoder is split automatically); 0 = at the decoder input. K = 2 because on the testbed d2pruner keeps 97.8% of the unpruned accuracy at 64/576 tokens at layer 2, 83.2% at the input', '2')
    .option('--importance <provider>', 'with --layer 0: promptRelevance (if omitted) or attention (a decoder that exports it)')
    .option('--max-new-tokens <k>', 'tokens to generate', '64')
    .option('--dtype <dtype>', DTYPE_HELP)
    .option('--json', 'print a JSON summary as the last line')
    .action(async (flags: GenerateFlags) => {
      const method = flags.method;
      methodFlag(method, '--method', { allowNone: true });
      const budget = budgetFlag(flags.budget);
      if (flags.positions !== 'original' && flags.positions !== 'compact') {
        throw new ValidationError('--positions', flags.positions, 'must be original or compact');
      }
      const maxNewTokens = integerFlag(flags.maxNewTokens, '--max-new-tokens');
      const dtype = flags.dtype === undefined ? undefined : dtypeFlag(flags.dtype);
      if (flags.importance !== undefined && flags.importance !== 'promptRelevance' && flags.importance !== 'attention') {
        throw new ValidationError('--importance', flags.importance, 'must be promptRelevance or attention');
      }
      if (!/^\d+$/.test(flags.layer.trim())) throw new ValidationError('--layer', flags.layer, 'must be an integer ≥ 0 (0 = the decoder input)');
      const layer = Number(flags.layer);
      if (layer > 0 && flags.importance !== undefined) throw new ValidationError('--importance', flags.importance, `applies to --layer 0 only; at layer ${layer} the importance is the attention at layer ${layer - 1}`);
      if (layer > 0 && flags.positions !== 'original') throw new ValidationError('--positions', flags.positions, `applies to --layer 0 only; at layer ${layer} the kept tokens keep their original positions`);
      const prior = flags.prior ? readPriorFile(flags.prior) : undefined;
      const methodOptions: Record<string, unknown> = {};
      if (flags.alpha !== undefined) {
        if (method !== 'd2pruner') throw new ValidationError('--alpha', flags.alpha, 'applies to --method d2pruner only');
        methodOptions.alpha = numberFlag(flags.alpha, '--alpha');
      }

      const model = flags.model ?? TESTBED_MODEL;
      checkModelFiles(model); // a corrupt model file is named here (exit 2), not deep in the runtime
      const { loadVisionLanguageModel, promptInputs, readImage, decoderFile } = await import('../adapters/transformers/load.js');
      const { firstTokenBreakdown, withTokenPruning } = await import('../adapters/transformers/index.js');
      const loaded = await loadVisionLanguageModel(model, { dtype });
      const image = await readImage(loaded.transformers, flags.image, '--image');
      const inputs = await promptInputs(loaded, image, flags.prompt);
      const row = inputs.input_ids.data as BigInt64Array;
      const visualTokens = loaded.family
        .locateImages(loaded.model, row, inputs)
        .reduce((sum, span) => sum + span.positions.length, 0);

      const runner: any =
        method === 'none'
          ? loaded.model
          : withTokenPruning(loaded.model, {
              method,
              budget,
              prior,
              positions: flags.positions as 'original' | 'compact',
              ...(layer > 0 ? { layer, decoder: decoderFile(loaded) } : { importance: (flags.importance ?? 'promptRelevance') as 'promptRelevance' | 'attention' }),
              tokenizer: loaded.processor,
              ...methodOptions,
            } as TokenPruningOptions); // from flags: withTokenPruning checks method and options
      // Prefill time = time to the first generated token (vision encoder, embeddings, selection, decoder).
      let started = 0;
      let firstTokenAt = 0;
      let puts = 0;
      const streamer = {
        put() {
          puts++;
          if (puts === 2) firstTokenAt = performance.now();
        },
        end() {},
      };
      started = performance.now();
      const ids = await runner.generate({ ...inputs, max_new_tokens: maxNewTokens, do_sample: false, streamer });
      const totalMs = performance.now() - started;
      const promptLength = inputs.input_ids.dims[1];
      const newIds = ids.slice(null, [promptLength, null]);
      const text: string = loaded.processor.batch_decode(newIds, { skip_special_tokens: true })[0].trim();
      const report = method === 'none' ? null : runner.lastPruning;
      const after = report ? report.after : visualTokens;
      const selectMs = report ? report.selectMs : 0;
      const prefillMs = firstTokenAt - started;

      process.stdout.write(`${text}\n`);
      const positions = method === 'none' ? '' : layer > 0 ? `, at layer ${layer}` : `, ${flags.positions} positions`;
      process.stdout.write(`visual tokens: ${visualTokens} → ${after} (${method}${positions})\n`);
      process.stdout.write(`selection: ${selectMs.toFixed(1)} ms, prefill: ${prefillMs.toFixed(1)} ms, total: ${totalMs.toFixed(1)} ms\n`);
      if (report) {
        const split = firstTokenBreakdown(report.timings, prefillMs);
        process.stdout.write(
          `overhead: ${split.overheadMs.toFixed(1)} ms of the prefill besides ` +
            `vision ${split.visionMs.toFixed(1)} ms and decoder ${split.decoderMs.toFixed(1)} ms (selection, importance, gathers, embeddings, generate() setup)\n`,
        );
      }
      if (flags.json) {
        const summary = {
          text,
          visualTokens: { before: visualTokens, after },
          selectMs: round(selectMs),
          prefillMs: round(prefillMs),
          totalMs: round(totalMs),
          newTokens: newIds.dims[1],
          method,
          budget: method === 'none' ? null : budget,
          positions: method === 'none' ? null : flags.positions,
          layer: method === 'none' ? null : layer,
          modelType: loaded.modelType,
          sequence: report ? report.sequence : { before: promptLength, after: promptLength },
          // Where the pruned prefill went (ms): the report's timings, rounded; null unpruned.
          timings: report
            ? Object.fromEntries(Object.entries(report.timings).map(([key, value]) => [key, typeof value === 'number' ? round(value) : value]))
            : null,
        };
        process.stdout.write(`${JSON.stringify(summary)}\n`);
      }
    });
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
