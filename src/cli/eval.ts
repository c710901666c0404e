import { readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { ValidationError } from '../core/errors.js';
import { accuracyPlot, markdownTable, pairedCounts, pairedTable } from '../eval/report.js';
import { DEFAULT_LAYER, defaultPriorPath, parseMethodSpec, runEval } from '../eval/run.js';
import { readCases } from '../eval/score.js';
import { prepareOutputFolder } from '../io/folders.js';
import { checkModelFiles } from '../io/model-files.js';
import { readPriorFile, writeAtomic } from './files.js';
import { DTYPE_HELP, dtypeFlag, integerFlag } from './flags.js';
import { createProgress } from './progress.js';
import { testbedModelDir } from '../testbed/model-dir.js';

/** The shipped testbed model (the same folder `d2pruner/node` exports as testbedModelDir()). */
export const TESTBED_MODEL = testbedModelDir();

const DEFAULT_METHODS = 'none,d2pruner,fastv,divprune,dart,cdpruner,visionzip,random,uniform';

interface EvalFlags {
  dtype?: string;
  data: string;
  model?: string;
  methods: string;
  budgets: string;
  mode?: string;
  layer?: string;
  prior?: string;
  maxNewTokens: string;
  out: string;
  quiet?: boolean;
}

/** `d2pruner eval`: accuracy per task unpruned and for each method × budget, as JSON, Markdown and an SVG plot. */
export function registerEval(program: Command): void {
  program
    .command('eval')
    .description('accuracy per task of a model unpruned and pruned by each method at each budget (cases.jsonl from `testbed generate`)')
    .requiredOption('--data <cases.jsonl>', 'cases file: JSON lines {image, prompt, answer, task, box?}, images relative to its folder')
    .option('--model <dir>', 'model folder (default: the shipped testbed model)')
    .option('--methods <list>', 'comma-separated: none, a method, or method:key=value;key=value (prior=none drops the prior)', DEFAULT_METHODS)
    .option('--budgets <list>', 'visual tokens kept, comma-separated', '192,128,64,32')
    .option('--mode <mode>', 'layer (inside the decoder before layer K, the decoder split automatically) or input (at the decoder input, prompt relevance as importance)', 'layer')
    .option('--layer <K>', `layer mode: prune before decoder layer K, importance = attention at layer K-1 (default ${DEFAULT_LAYER}: on the testbed d2pruner keeps 97.8% at 64/576 tokens at layer 2, 83.2% at the input)`)
    .option('--prior <file>', 'positional prior for d2pruner (default: prior-attention.json / prior.json beside the model, per mode)')
    .option('--max-new-tokens <n>', 'greedy decoding length', '8')
    .option('--dtype <dtype>', DTYPE_HELP)
    .requiredOption('--out <dir>', 'output folder: results.json, results.md, accuracy.svg')
    .option('--quiet', 'no progress output')
    .action(async (flags: EvalFlags) => {
      const model = resolve(flags.model ?? TESTBED_MODEL);
      checkModelFiles(model); // a corrupt config.json, tokenizer.json or .onnx file is named here (exit 2)
      const mode = flags.mode ?? 'layer';
      if (mode !== 'input' && mode !== 'layer') throw new ValidationError('--mode', flags.mode, 'must be input or layer');
      if (flags.layer !== undefined && !/^\d+$/.test(flags.layer.trim())) throw new ValidationError('--layer', flags.layer, 'must be an integer ≥ 1');
      if (mode === 'input' && flags.layer !== undefined) throw new ValidationError('--layer', flags.layer, 'applies to --mode layer only');
      const layer = mode === 'layer' ? Number(flags.layer ?? DEFAULT_LAYER) : 0;
      if (mode === 'layer' && layer < 1) throw new ValidationError('--layer', flags.layer, 'must be an integer ≥ 1 (for pruning at the decoder input use --mode input)');
      // Method options use ';' inside one entry so that ',' can separate entries: d2pruner:alpha=0.5;pivotRatio=0.9
      const parsed = flags.methods.split(',').filter((m) => m.trim()).map((m) => parseMethodSpec(m.replace(/;/g, ',')));
      const methods = parsed.filter((m, i) => parsed.findIndex((other) => other.label === m.label) === i); // fastv,fastv: one row
      const budgets = flags.budgets.split(',').map((b) => integerFlag(b, '--budgets'));
      budgets.splice(0, budgets.length, ...new Set(budgets));
      const maxNewTokens = integerFlag(flags.maxNewTokens, '--max-new-tokens');
      const dtype = flags.dtype === undefined ? undefined : dtypeFlag(flags.dtype);
      const cases = readCases(flags.data);
      const priorPath = flags.prior ?? defaultPriorPath(model, mode);
      const prior = priorPath ? readPriorFile(priorPath) : undefined;
      const out = prepareOutputFolder(flags.out);
      // Finished cases are kept here so an interrupted run resumes; runEval keys it by content (cases, images,
      // model files, prior, settings), so a file left by a run on other inputs is started afresh.
      const checkpoint = join(out, `.partial-${mode}.jsonl`);
      const progress = createProgress({ total: cases.length, label: `eval (${mode})`, quiet: flags.quiet });
      let result;
      try {
        result = await runEval({
          cases,
          dataDir: dirname(resolve(flags.data)),
          model,
          methods,
          budgets,
          mode,
          layer,
          prior,
          maxNewTokens,
          dtype,
          checkpoint,
          onResume: ({ cases: reused, rejected }) => {
            if (flags.quiet) return;
            if (reused > 0) process.stderr.write(`resuming: ${reused} finished cases found in ${checkpoint} (reused where case and image are unchanged)\n`);
            if (rejected > 0) process.stderr.write(`${rejected} checkpoint lines did not fit and were ignored (those cases run again)\n`);
          },
          onProgress: (done) => progress.update(done),
        });
      } finally {
        progress.stop();
      }
      const tokens = imageTokens(model);
      // Layer mode: time to the first token; the vision encoder and layers < K run once per case (shared by the settings after the first pruned one).
      const timeLabel = mode === 'layer' ? 'ms to first token' : 'ms per answer';
      const meta = { model, data: resolve(flags.data), mode, ...(mode === 'layer' ? { layer } : {}), prior: priorPath ?? null, methods: methods.map((m) => m.label), budgets, cases: cases.length };
      // Per case, one character per setting (1 right, 0 wrong, - not run), for paired comparisons.
      const settingKeys = result.rows.filter((r, i, all) => all.findIndex((o) => o.method === r.method && o.budget === r.budget) === i).map((r) => ({ method: r.method, budget: r.budget }));
      const perCase = result.outcomes.map((list) => settingKeys.map((k) => { const o = list.find((x) => x.label === k.method && x.budget === k.budget); return o ? (o.right ? '1' : '0') : '-'; }).join(''));
      writeAtomic(join(out, 'results.json'), JSON.stringify({ ...meta, rows: result.rows, timing: result.timing, outcomes: { settings: settingKeys, cases: perCase } }, null, 2) + '\n');
      const title = `accuracy vs kept visual tokens (${mode} mode${mode === 'layer' ? `, layer ${layer}` : ''}, ${cases.length} cases)`;
      const first = methods.find((m) => m.method !== 'none');
      const paired = first ? pairedCounts(result.outcomes, first.label, methods.filter((m) => m.method !== 'none' && m.label !== first.label).map((m) => m.label), budgets) : [];
      const pairedText = paired.length ? `\n## Paired: ${first!.label} against each other setting (same cases)\n\n${pairedTable(paired)}` : '';
      writeAtomic(join(out, 'results.md'), `# ${title}\n\nAccuracy ± standard error (√(p(1−p)/n)) and retention of the unpruned accuracy.\n\n${markdownTable(result.rows, result.timing, tokens, timeLabel, { standardErrors: true })}${pairedText}`);
      writeAtomic(join(out, 'accuracy.svg'), accuracyPlot(result.rows, title));
      rmSync(checkpoint, { force: true });
      process.stdout.write(markdownTable(result.rows, result.timing, tokens, timeLabel));
      if (!flags.quiet) process.stderr.write(`wrote ${join(flags.out, 'results.json')}, results.md and accuracy.svg\n`);
    });
}

/** Visual tokens per image from config.json (`image_seq_length`), when it says. */
function imageTokens(model: string): number | undefined {
  try {
    const config = JSON.parse(readFileSync(join(model, 'config.json'), 'utf8'));
    return Number.isInteger(config.image_seq_length) ? config.image_seq_length : undefined;
  } catch {
    return undefined;
  }
}
