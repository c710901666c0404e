import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { ValidationError } from '../core/errors.js';
import {
  computeFlops,
  decoderShapeFromConfig,
  flopsDefaults,
  modelPresets,
  visualTokensFromConfig,
  type DecoderShape,
  type FlopsReport,
} from '../flops.js';
import { UsageError } from './errors.js';
import { numberFlag } from './flags.js';
import { testbedModelDir } from '../testbed/model-dir.js';

/** The shipped testbed model's config, relative to the package root (src/cli/ and dist/cli/ alike). */
const TESTBED_CONFIG = join(testbedModelDir(), 'config.json');

interface FlopsFlags {
  model?: string;
  config?: string;
  budget: string;
  layer?: string;
  textTokens?: string;
  visualTokens?: string;
  exact?: boolean;
  json?: boolean;
  list?: boolean;
}

/** `d2pruner flops`: prefill FLOPs before and after pruning for a preset model or any config.json. */
export function registerFlops(program: Command): void {
  program
    .command('flops')
    .description('Decoder prefill FLOPs before and after visual-token pruning (FastV/DART convention by default)')
    .option('--model <preset>', `a preset: ${[...Object.keys(modelPresets), 'testbed'].join(', ')}`)
    .option('--config <file>', 'a transformers-style config.json (top level, text_config or llm_config)')
    .option('--budget <n>', 'visual tokens kept: an integer n or a fraction in (0, 1)')
    .option('--layer <K>', 'first decoder layer that sees only the kept tokens (0 = prune at the input)', String(flopsDefaults.layer))
    .option('--text-tokens <T>', 'text tokens counted too (never pruned); 0 = visual-token FLOPs only', '0')
    .option('--visual-tokens <N>', 'visual tokens per image before pruning (default: the preset\'s or the config\'s)')
    .option('--exact', 'count real widths: GQA k/v projections and 3 gated-MLP matrices')
    .option('--json', 'print one JSON object')
    .option('--list', 'list the presets and exit')
    .action((flags: FlopsFlags) => {
      if (flags.list) {
        process.stdout.write(listPresets());
        return;
      }
      process.stdout.write(runFlops(flags));
    });
}

function runFlops(flags: FlopsFlags): string {
  if (flags.model && flags.config) throw new UsageError('give either --model or --config, not both');
  if (!flags.model && !flags.config) throw new UsageError('give --model PRESET or --config config.json (see --list)');
  if (flags.budget === undefined) throw new UsageError('--budget is required (an integer n or a fraction in (0, 1))');
  const model = resolveModel(flags);
  const visualTokens = flags.visualTokens !== undefined ? numberFlag(flags.visualTokens, '--visual-tokens') : model.visualTokens;
  if (visualTokens === undefined) {
    throw new UsageError(`${model.name} does not say how many visual tokens an image has; give --visual-tokens N`);
  }
  const report = withFlagNames(() =>
    computeFlops(model.shape, {
      visualTokens,
      budget: numberFlag(flags.budget, '--budget'),
      layer: numberFlag(flags.layer ?? String(flopsDefaults.layer), '--layer'),
      textTokens: numberFlag(flags.textTokens ?? '0', '--text-tokens'),
      variant: flags.exact ? 'exact' : 'convention',
    }),
  );
  if (flags.json) {
    const { reduction, before, after, ...rest } = report;
    const json = { reduction, before, after, ...rest, model: model.name, shape: model.shape };
    return JSON.stringify(json) + '\n';
  }
  return formatReport(model.name, model.shape, report);
}

interface ResolvedModel {
  name: string;
  shape: DecoderShape;
  visualTokens?: number;
}

function resolveModel(flags: FlopsFlags): ResolvedModel {
  if (flags.config) return fromConfigFile(flags.config, '--config', flags.config);
  const name = flags.model!;
  if (name === 'testbed') {
    if (!existsSync(TESTBED_CONFIG)) {
      throw new ValidationError('--model', name, `the testbed model is not built (no ${TESTBED_CONFIG})`);
    }
    return fromConfigFile(TESTBED_CONFIG, '--model', 'testbed');
  }
  const preset = modelPresets[name];
  if (!preset) {
    throw new ValidationError('--model', name, `unknown preset; one of ${[...Object.keys(modelPresets), 'testbed'].join(', ')}`);
  }
  return { name, shape: preset.shape, visualTokens: preset.visualTokens };
}

function fromConfigFile(path: string, field: string, name: string): ResolvedModel {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : 'cannot be read';
    throw new ValidationError(field, name === path ? path : `${name} (${path})`, reason);
  }
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch {
    throw new ValidationError(field, path, 'is not valid JSON');
  }
  return { name, shape: decoderShapeFromConfig(config), visualTokens: visualTokensFromConfig(config) };
}

/** Strict number parsing for flags: "64", "0.25", "1e3"; not "", "64abc" or "NaN". */
/** Renames the library's option names to the CLI's flags in error messages. */
function withFlagNames<T>(run: () => T): T {
  const flagOf: Record<string, string> = { visualTokens: '--visual-tokens', budget: '--budget', layer: '--layer', textTokens: '--text-tokens' };
  try {
    return run();
  } catch (error) {
    if (error instanceof ValidationError && flagOf[error.field]) {
      const reason = error.message.slice(error.field.length + 2).replace(/ \(got .*\)$/, '');
      throw new ValidationError(flagOf[error.field]!, error.value, reason);
    }
    throw error;
  }
}

/** 3.02e12 → "3.02 TFLOPs". */
export function formatFlops(flops: number): string {
  const units: [number, string][] = [[1e12, 'TFLOPs'], [1e9, 'GFLOPs'], [1e6, 'MFLOPs'], [1e3, 'kFLOPs']];
  for (const [scale, unit] of units) if (flops >= scale) return `${(flops / scale).toFixed(2)} ${unit}`;
  return `${flops.toFixed(0)} FLOPs`;
}

function formatReport(name: string, decoder: DecoderShape, report: FlopsReport): string {
  const gqa = decoder.kvHeads !== decoder.heads ? ` / ${decoder.kvHeads} KV heads` : '';
  const rule = report.variant === 'convention' ? 'field convention, 4nd² + 2n²d + 2ndm per layer' : 'exact widths (GQA, gated MLP)';
  const text = report.textTokens > 0 ? ` + ${report.textTokens} text` : '';
  const where = report.layer === 0 ? 'at the input' : `from layer ${report.layer} of ${report.layers}`;
  return [
    `model      ${name}: ${decoder.layers} layers, hidden ${decoder.hiddenSize}, MLP ${decoder.intermediateSize}, ${decoder.heads} heads${gqa}`,
    `counting   ${rule}${report.textTokens === 0 ? ', visual tokens only' : ''}`,
    `tokens     ${report.visualTokens}${text} → ${report.keptTokens}${text} ${where}`,
    `before     ${formatFlops(report.before)}`,
    `after      ${formatFlops(report.after)}`,
    `reduction  ${(100 * report.reduction).toFixed(1)}%`,
    '',
  ].join('\n');
}

function listPresets(): string {
  const rows = Object.entries(modelPresets).map(([name, preset]) => {
    const s = preset.shape;
    return `${name.padEnd(15)} d=${String(s.hiddenSize).padEnd(5)} m=${String(s.intermediateSize).padEnd(6)} L=${String(s.layers).padEnd(3)} heads=${`${s.heads}/${s.kvHeads}`.padEnd(6)} N=${String(preset.visualTokens).padEnd(5)} ${preset.visualTokensNote}; ${preset.source}`;
  });
  rows.push(`${'testbed'.padEnd(15)} read from models/testbed/config.json at run time`);
  return rows.join('\n') + '\n';
}
