/**
 * The accuracy-vs-budget evaluation behind `d2pruner eval`: every case of a cases file through a model
 * unpruned and with each method × budget, pruning either at the decoder input (`mode: 'input'`, any model
 * the transformers.js adapters support, through `withTokenPruning`) or inside the decoder at layer K
 * (`mode: 'layer'`, models with the split export, through {@link SplitDecoderModel}; one prefill of layers
 * < K per case serves every method and budget).
 */
import { existsSync } from 'node:fs';
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { join, relative, resolve, isAbsolute } from 'node:path';
import { ValidationError } from '../core/errors.js';
import type { PositionalPrior } from '../importance/prior.js';
import { methodNames } from '../methods/registry.js';
import { select, validateSelectOptions, type SelectOptions } from '../select.js';
import { hasSplitExport, SplitDecoderModel } from '../testbed/split-decoder.js';
import { scoreAnswer, type EvalCase } from './score.js';
import { caseHash, checkpointHeader, checkpointLine, modelFingerprint, readCheckpoint, sha256, type Outcome } from './checkpoint.js';
import type { TokenPruningOptions } from '../adapters/transformers/types.js';
import { chatPrompt } from '../adapters/transformers/prompt.js';

/** One method setting to evaluate: `none`, a method name, or `name:key=value,…` (`prior=none` drops the prior). */
export interface MethodSpec {
  /** The text as given, used as the row label. */
  label: string;
  /** `none` (unpruned) or a selection method. */
  method: string;
  /** Method options (numbers parsed). */
  options: Record<string, unknown>;
  /** Whether the positional prior is passed (default true; d2pruner is the only method that uses it). */
  usePrior: boolean;
}

/**
 * Parses `--methods` entries: `none`, `fastv`, `d2pruner:alpha=0.5,pivotRatio=0.9`, `d2pruner:prior=none`.
 * @throws ValidationError for an unknown method or a malformed option.
 */
export function parseMethodSpec(text: string): MethodSpec {
  const label = text.trim();
  const [method, rest] = label.split(':', 2) as [string, string | undefined];
  if (method !== 'none' && !(methodNames as readonly string[]).includes(method)) {
    throw new ValidationError('--methods', label, `method must be none or one of ${methodNames.join(', ')}`);
  }
  const options: Record<string, unknown> = {};
  let usePrior = true;
  for (const pair of rest ? rest.split(',') : []) {
    const [key, value] = pair.split('=', 2);
    if (!key || value === undefined) throw new ValidationError('--methods', label, 'options are written key=value,key=value');
    if (key === 'prior') {
      if (value !== 'none') throw new ValidationError('--methods', label, 'the only prior option is prior=none');
      usePrior = false;
    } else {
      const number = Number(value);
      options[key] = value.trim() !== '' && Number.isFinite(number) ? number : value;
    }
  }
  return { label, method, options, usePrior };
}

/** Options of {@link runEval}. */
export interface EvalOptions {
  cases: EvalCase[];
  /** Folder the cases' image paths are relative to. */
  dataDir: string;
  /** Model folder (transformers.js layout). */
  model: string;
  methods: MethodSpec[];
  /** Budgets (visual tokens kept per image). */
  budgets: number[];
  mode: 'input' | 'layer';
  /** Positional prior for d2pruner; omitted = run without one. */
  prior?: PositionalPrior;
  /** Greedy decoding length. Default 8. */
  maxNewTokens?: number;
  /**
   * JSON-lines file of finished cases: read to resume, appended to after each case. Keyed by content (cases,
   * image bytes, model files, prior, settings), so a file left by a run on other inputs is started afresh.
   */
  checkpoint?: string;
  /**
   * Called once after the checkpoint is read: `cases` finished cases found for these inputs (reused when
   * their case and image hashes still match), `rejected` lines that did not fit, `restarted` when the file
   * was missing or belonged to other inputs and was started afresh.
   */
  onResume?: (info: { cases: number; rejected: number; restarted: boolean }) => void;
  /** Called after each case with the number done. */
  onProgress?: (done: number) => void;
}

/** One row of `results.json`. */
export interface ResultRow {
  method: string;
  budget: number | 'all';
  task: string;
  accuracy: number;
  n: number;
}

/** Mean time per method setting and budget (ms): prefill in layer mode, the whole generate() in input mode. */
export interface TimingRow {
  method: string;
  budget: number | 'all';
  prefillMs: number;
}

/** The method × budget settings, each once (`--methods fastv,fastv` or `--budgets 64,64` give one row). */
function settings(options: EvalOptions): { spec: MethodSpec; budget: number | 'all' }[] {
  const list: { spec: MethodSpec; budget: number | 'all' }[] = [];
  const none = options.methods.find((m) => m.method === 'none') ?? parseMethodSpec('none');
  list.push({ spec: none, budget: 'all' });
  const seen = new Set<string>();
  const budgets = [...new Set(options.budgets)];
  for (const spec of options.methods) {
    if (spec.method === 'none' || seen.has(spec.label)) continue;
    seen.add(spec.label);
    for (const budget of budgets) list.push({ spec, budget });
  }
  return list;
}

/** What a run's outcomes depend on besides the cases themselves: the model files, the prior and the settings. */
function runKey(options: EvalOptions, list: ReturnType<typeof settings>): string {
  return sha256(
    JSON.stringify({
      mode: options.mode,
      maxNewTokens: options.maxNewTokens ?? 8,
      model: modelFingerprint(options.model),
      prior: options.prior ?? null,
      cases: sha256(JSON.stringify(options.cases)),
      settings: list.map(({ spec, budget }) => [spec.label, spec.method, spec.options, spec.usePrior, budget]),
    }),
  );
}

/**
 * The path of a case's image inside the data folder.
 * @throws ValidationError naming `--data` when the path leaves the folder (`../…`, an absolute path).
 */
export function caseImagePath(dataDir: string, image: string): string {
  const root = resolve(dataDir);
  const path = resolve(root, image);
  const inside = relative(root, path);
  if (isAbsolute(image) || inside === '' || inside.startsWith('..') || isAbsolute(inside)) {
    throw new ValidationError('--data', image, `case image paths must stay inside the data folder ${root}`);
  }
  return path;
}

function selectOptions(spec: MethodSpec): SelectOptions {
  return { method: spec.method, ...spec.options } as SelectOptions;
}

/**
 * The prior shipped beside a model for a mode: `prior-attention.json` (layer mode: attention at layer K−1)
 * or `prior.json` (input mode: the adapters' default importance), when present.
 */
export function defaultPriorPath(model: string, mode: 'input' | 'layer'): string | undefined {
  const path = join(resolve(model), mode === 'layer' ? 'prior-attention.json' : 'prior.json');
  return existsSync(path) ? path : undefined;
}

/**
 * Runs the evaluation; resolves to the accuracy rows (method `none` with budget `"all"` first) and timings.
 * @throws ValidationError for a model without the split export in layer mode, or unreadable images.
 */
export async function runEval(options: EvalOptions): Promise<{ rows: ResultRow[]; timing: TimingRow[] }> {
  const list = settings(options);
  for (const { spec } of list) if (spec.method !== 'none') validateSelectOptions(selectOptions(spec)); // reject bad options before any case runs
  if (options.mode === 'layer' && !hasSplitExport(options.model)) {
    throw new ValidationError('--mode', 'layer', `needs a model with the split export (config.json d2pruner.split_layer); ${options.model} has none`);
  }
  const done = new Map<number, Outcome[]>();
  // Resume only from outcomes computed on the same content: the run key covers the model, prior, settings and
  // cases; each case line also carries the hash of its case and image bytes, checked before reuse below.
  const key = options.checkpoint ? runKey(options, list) : '';
  const resumed = options.checkpoint ? readCheckpoint(options.checkpoint, key, options.cases.length, list.map(({ spec, budget }) => ({ label: spec.label, budget }))) : undefined;
  if (options.checkpoint && resumed && !resumed.matches) await writeFile(options.checkpoint, checkpointHeader(key));
  const transformers: any = await import('@huggingface/transformers'); // eslint-disable-line @typescript-eslint/no-explicit-any
  transformers.env.allowRemoteModels = false;
  const runner = options.mode === 'layer' ? await layerRunner(options, list, transformers) : await inputRunner(options, list, transformers);
  if (resumed) options.onResume?.({ cases: resumed.done.size, rejected: resumed.rejected, restarted: !resumed.matches });
  let count = 0;
  for (let index = 0; index < options.cases.length; index++) {
    const c = options.cases[index]!;
    const imagePath = caseImagePath(options.dataDir, c.image);
    if (!existsSync(imagePath)) throw new ValidationError('--data', c.image, `image not found in ${options.dataDir}`);
    const bytes = await readFile(imagePath);
    const hash = caseHash(c, bytes);
    const previous = resumed?.done.get(index);
    if (previous && previous.hash === hash) {
      done.set(index, previous.outcomes);
    } else {
      let image;
      try {
        image = await transformers.RawImage.read(imagePath);
      } catch (error) {
        throw new ValidationError('--data', c.image, `is not a readable image (${(error as Error).message})`);
      }
      const outcomes = await runner(c, image);
      done.set(index, outcomes);
      if (options.checkpoint) await appendFile(options.checkpoint, checkpointLine(index, hash, outcomes));
    }
    count++;
    options.onProgress?.(count);
  }
  return summarize(options.cases, list, done);
}

type Runner = (c: EvalCase, image: unknown) => Promise<Outcome[]>;

/** The prompt through the one prompt builder (the split testbed model is a LLaVA-layout model). */
function chatText(processor: any, prompt: string): string {
  return chatPrompt(processor, 'llava', prompt).text;
}

async function layerRunner(options: EvalOptions, list: ReturnType<typeof settings>, transformers: any): Promise<Runner> {
  const split = await SplitDecoderModel.load(options.model);
  const processor = await transformers.AutoProcessor.from_pretrained(resolve(options.model));
  const maxNewTokens = options.maxNewTokens ?? 8;
  return async (c, image) => {
    const inputs = await processor(image, chatText(processor, c.prompt));
    const state = await split.prefill(inputs.input_ids.data, inputs.pixel_values);
    const outcomes: Outcome[] = [];
    for (const { spec, budget } of list) {
      const prune =
        spec.method === 'none'
          ? undefined
          : ({ features, dims, importance, grid }: { features: Float32Array; dims: [number, number]; importance: Float32Array; grid: { rows: number; cols: number } }) => {
              const prior = spec.usePrior && options.prior ? Float32Array.from(options.prior.values) : undefined;
              const selection = select({ features, dims, importance, prior, grid, budget: budget as number }, selectOptions(spec));
              return { keep: selection.keep, features: selection.features };
            };
      const result = await split.decode(state, { prune, maxNewTokens });
      const answer = processor.tokenizer.decode(result.tokens, { skip_special_tokens: true });
      outcomes.push({ label: spec.label, budget, right: scoreAnswer(c, answer), ms: result.prefillMs });
    }
    return outcomes;
  };
}

async function inputRunner(options: EvalOptions, list: ReturnType<typeof settings>, transformers: any): Promise<Runner> {
  const { loadVisionLanguageModel, promptInputs } = await import('../adapters/transformers/load.js');
  const { withTokenPruning } = await import('../adapters/transformers/index.js');
  const loaded = await loadVisionLanguageModel(options.model);
  const models = list.map(({ spec, budget }) =>
    spec.method === 'none'
      ? loaded.model
      : withTokenPruning(loaded.model, {
          method: spec.method,
          budget: budget as number,
          ...(spec.usePrior && options.prior ? { prior: options.prior } : {}),
          tokenizer: loaded.processor,
          ...spec.options,
        } as TokenPruningOptions), // from the method spec: withTokenPruning checks it
  );
  const maxNewTokens = options.maxNewTokens ?? 8;
  void transformers;
  return async (c, image) => {
    const inputs = await promptInputs(loaded, image, c.prompt);
    const prompt = inputs.input_ids.dims[1];
    const outcomes: Outcome[] = [];
    for (let i = 0; i < list.length; i++) {
      const start = performance.now();
      const out = await models[i].generate({ ...inputs, max_new_tokens: maxNewTokens, do_sample: false });
      const ms = performance.now() - start; // whole generate(): the unpruned model reports no prefill time
      const answer = loaded.processor.batch_decode(out.slice(null, [prompt, null]), { skip_special_tokens: true })[0];
      outcomes.push({ label: list[i]!.spec.label, budget: list[i]!.budget, right: scoreAnswer(c, answer), ms });
    }
    return outcomes;
  };
}

function summarize(cases: EvalCase[], list: ReturnType<typeof settings>, done: Map<number, Outcome[]>) {
  const tasks = [...new Set(cases.map((c) => c.task))];
  const rows: ResultRow[] = [];
  const timing: TimingRow[] = [];
  for (const { spec, budget } of list) {
    let ms = 0;
    let runs = 0;
    for (const task of tasks) {
      let right = 0;
      let n = 0;
      cases.forEach((c, index) => {
        if (c.task !== task) return;
        const outcome = done.get(index)?.find((o) => o.label === spec.label && o.budget === budget);
        if (!outcome) return;
        n++;
        right += outcome.right ? 1 : 0;
        ms += outcome.ms;
        runs++;
      });
      rows.push({ method: spec.label, budget, task, accuracy: n > 0 ? right / n : 0, n });
    }
    timing.push({ method: spec.label, budget, prefillMs: runs > 0 ? ms / runs : 0 });
  }
  return { rows, timing };
}

