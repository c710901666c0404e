import { existsSync, linkSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { splitDecoderGraph } from '../onnx/split-decoder-graph.js';
import { UsageError } from './errors.js';

interface SplitFlags {
  model?: string;
  layer?: string;
  out?: string;
  decoder?: string;
}

/**
 * `d2pruner split --model DIR --layer K [--out DIR2] [--decoder FILE]`: writes the decoder split at layer K
 * as `<decoder>.layer<K>.prefix.onnx` / `.suffix.onnx` (into the model's `onnx/` folder, or DIR2). External
 * data is referenced, not copied: beside the original the parts point at its `.onnx_data`; in DIR2 the data
 * files are hard-linked (onnxruntime only reads external data inside the model file's folder).
 */
export function registerSplit(program: Command): void {
  program
    .command('split')
    .description('split a model folder\'s decoder_model_merged*.onnx at decoder layer K into prefix (layers < K) and suffix (layers ≥ K) files')
    .option('--model <dir>', 'model folder (transformers.js layout: onnx/decoder_model_merged*.onnx)')
    .option('--layer <K>', 'first layer of the suffix (1 … layers−1)')
    .option('--decoder <file>', 'decoder file inside onnx/ (default: decoder_model_merged.onnx, else the only decoder_model_merged*.onnx)')
    .option('--out <dir>', 'output folder (default: the model\'s onnx/ folder)')
    .action((flags: SplitFlags) => {
      if (!flags.model) throw new UsageError('--model DIR is required');
      if (!flags.layer || !/^\d+$/.test(flags.layer)) throw new UsageError(`--layer must be an integer ≥ 1 (got ${JSON.stringify(flags.layer ?? null)})`);
      const onnxDir = join(resolve(flags.model), 'onnx');
      if (!existsSync(onnxDir)) throw new UsageError(`--model ${flags.model} has no onnx/ folder`);
      const candidates = readdirSync(onnxDir).filter((f) => /^decoder_model_merged[^.]*\.onnx$/.test(f));
      const decoder = flags.decoder ?? (candidates.includes('decoder_model_merged.onnx') ? 'decoder_model_merged.onnx' : candidates.length === 1 ? candidates[0] : undefined);
      if (!decoder) throw new UsageError(`--model ${flags.model}: choose the decoder with --decoder (found ${candidates.join(', ') || 'none'})`);
      const source = join(onnxDir, basename(decoder));
      if (!existsSync(source)) throw new UsageError(`--decoder ${decoder} not found in ${onnxDir}`);
      const split = splitDecoderGraph(new Uint8Array(readFileSync(source)), { layer: Number(flags.layer) });
      const out = flags.out ? resolve(flags.out) : onnxDir;
      mkdirSync(out, { recursive: true });
      if (out !== onnxDir) {
        for (const data of split.externalData) {
          if (!existsSync(join(out, data))) linkSync(join(onnxDir, data), join(out, data));
        }
      }
      const base = basename(source, '.onnx');
      for (const [part, bytes] of [['prefix', split.prefix], ['suffix', split.suffix]] as const) {
        const file = join(out, `${base}.layer${split.layer}.${part}.onnx`);
        writeFileSync(`${file}.tmp`, bytes);
        renameSync(`${file}.tmp`, file);
        process.stdout.write(`${file}\n`);
      }
      process.stdout.write(
        `cut: ${split.cut} (residual stream entering layer ${split.layer} of ${split.layers}); attention: ${split.softmax}` +
          (split.externalData.length ? `; external data: ${split.externalData.join(', ')}` : '') + '\n',
      );
    });
}
