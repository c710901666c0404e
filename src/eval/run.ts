/**
 * The accuracy-vs-budget evaluation behind `d2pruner eval`: every case of a cases file through a model
 * unpruned and with each method × budget, pruning either at the decoder input (`mode: 'input'`, any model
 * the transformers.js adapters support, through `withTokenPruning`) or inside the decoder at layer K
 * (`mode: 'layer'`, any model whose decoder the automatic split handles: `withTokenPruning({ layer, decoder })`
 * on the folder's `decoder_model_merged*.onnx`).
 */
import { existsSync } from 'node:fs';
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { join, relative, resolve, isAbsolute } from 'node:path';
import { ValidationError } from '../core/errors.js';
import type { PositionalPrior } from '../importance/prior.js';
import { methodNames } from '../methods/registry.js';
import { validateSelectOptions, type SelectOptions } from '../select.js';
import { scoreAnswer, type EvalCase } from './score.js';
import { caseHash, checkpointHeader, checkpointLine, modelFingerprint, readCheckpoint, sha256, type Outcome } from './checkpoint.js';
import type { TokenPruningOptions } from '../adapters/transformers/types.js';
import type { DtypeOption } from '../adapters/transformers/load.js';

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
    throw new ValidationError('methods', label, `method must be none or one of ${methodNames.join(', ')}`);
  }
  const options: Record<string, unknown> = {};
  let usePrior = true;
  for (const pair of rest ? rest.split(',') : []) {
    const [key, value] = pair.split('=', 2);
    if (!key || value === undefined) throw new ValidationError('methods', label, 'options are written key=value,key=value');
    if (key === 'prior') {
      if (value !== 'none') throw new ValidationError('methods', label, 'the only prior option is prior=none');
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
  /**
   * Layer mode: the decoder layer K the tokens are pruned before (importance = attention at layer K−1).
   * Default {@link DEFAULT_LAYER}. Ignored in input mode.
   */
  layer?: number;
  /** Positional prior for d2pruner; omitted = run without one. */
  prior?: PositionalPrior;
  /** Greedy decoding length. Default 8. */
  maxNewTokens?: number;
  /** Session precisions (`loadVisionLanguageModel`'s `dtype`). Default: the model's own choice. */
  dtype?: DtypeOption;
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

/**
 * The default layer K of `mode: 'layer'`: 2, the paper's setting. On the testbed it keeps 97.8% of the
 * unpruned accuracy with d2pruner at 64 of 576 tokens against 83.2% at the decoder input (README, testbed).
 */
export const DEFAULT_LAYER = 2;

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
      layer: options.mode === 'layer' ? (options.layer ?? DEFAULT_LAYER) : 0,
      maxNewTokens: options.maxNewTokens ?? 8,
      dtype: options.dtype ?? null,
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
    throw new ValidationError('cases', image, `case image paths must stay inside the data folder ${root}`);
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
 * Runs the evaluation; resolves to the accuracy rows (method `none` with budget `"all"` first), timings and
 * every case's outcomes (`outcomes[case]`, one per setting, for paired comparisons).
 * @throws ValidationError for a bad layer, a decoder the automatic split cannot handle (layer mode), or
 *   unreadable images.
 */
export async function runEval(options: EvalOptions): Promise<{ rows: ResultRow[]; timing: TimingRow[]; outcomes: Outcome[][] }> {
  const list = settings(options);
  for (const { spec } of list) if (spec.method !== 'none') validateSelectOptions(selectOptions(spec)); // reject bad options before any case runs
  const layer = options.mode === 'layer' ? (options.layer ?? DEFAULT_LAYER) : 0;
  if (options.mode === 'layer' && (!Number.isInteger(layer) || layer < 1)) {
    throw new ValidationError('layer', options.layer, 'must be an integer ≥ 1 in layer mode (use mode input to prune at the decoder input)');
  }
  const done = new Map<number, Outcome[]>();
  // Resume only from outcomes computed on the same content: the run key covers the model, prior, settings and
  // cases; each case line also carries the hash of its case and image bytes, checked before reuse below.
  const key = options.checkpoint ? runKey(options, list) : '';
  const resumed = options.checkpoint ? readCheckpoint(options.checkpoint, key, options.cases.length, list.map(({ spec, budget }) => ({ label: spec.label, budget }))) : undefined;
  if (options.checkpoint && resumed && !resumed.matches) await writeFile(options.checkpoint, checkpointHeader(key));
  const transformers: any = await import('@huggingface/transformers'); // eslint-disable-line @typescript-eslint/no-explicit-any
  transformers.env.allowRemoteModels = false;
  const runner = await modelRunner(options, list, layer);
  if (resumed) options.onResume?.({ cases: resumed.done.size, rejected: resumed.rejected, restarted: !resumed.matches });
  let count = 0;
  for (let index = 0; index < options.cases.length; index++) {
    const c = options.cases[index]!;
    const imagePath = caseImagePath(options.dataDir, c.image);
    if (!existsSync(imagePath)) throw new ValidationError('cases', c.image, `image not found in ${options.dataDir}`);
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
        throw new ValidationError('cases', c.image, `is not a readable image (${(error as Error).message})`);
      }
      const outcomes = await runner(c, image);
      done.set(index, outcomes);
      if (options.checkpoint) await appendFile(options.checkpoint, checkpointLine(index, hash, outcomes));
    }
    count++;
    options.onProgress?.(count);
  }
  return summarizeOutcomes(options.cases, list.map(({ spec, budget }) => ({ label: spec.label, budget })), done);
}

type Runner = (c: EvalCase, image: unknown) => Promise<Outcome[]>;

/**
 * One model for every setting, each through `withTokenPruning`: at the decoder input (`layer` 0) or inside the
 * decoder before layer K, splitting the folder's `decoder_model_merged*.onnx` (the file the loader picked)
 * once. Time per setting: prefill (to the first generated token) in layer mode, the whole generate() in
 * input mode.
 */
async function modelRunner(options: EvalOptions, list: ReturnType<typeof settings>, layer: number): Promise<Runner> {
  const { loadVisionLanguageModel, promptInputs, decoderFile } = await import('../adapters/transformers/load.js');
  const { withTokenPruning } = await import('../adapters/transformers/index.js');
  const loaded = await loadVisionLanguageModel(options.model, { dtype: options.dtype });
  const where = layer > 0 ? { layer, decoder: decoderFile(loaded) } : {};
  const models = list.map(({ spec, budget }) =>
    spec.method === 'none'
      ? loaded.model
      : withTokenPruning(loaded.model, {
          method: spec.method,
          budget: budget as number,
          ...(spec.usePrior && options.prior ? { prior: options.prior } : {}),
          tokenizer: loaded.processor,
          ...where,
          ...spec.options,
        } as TokenPruningOptions), // from the method spec: withTokenPruning checks it
  );
  const maxNewTokens = options.maxNewTokens ?? 8;
  return async (c, image) => {
    const inputs = await promptInputs(loaded, image, c.prompt);
    const prompt = inputs.input_ids.dims[1];
    const outcomes: Outcome[] = [];
    for (let i = 0; i < list.length; i++) {
      let firstToken = 0;
      let puts = 0;
      // The streamer's second put() is the first generated token: the prefill is done.
      const streamer = { put: () => void (++puts === 2 && (firstToken = performance.now())), end() {} };
      const start = performance.now();
      const out = await models[i].generate({ ...inputs, max_new_tokens: maxNewTokens, do_sample: false, ...(layer > 0 ? { streamer } : {}) });
      const ms = (layer > 0 && firstToken > 0 ? firstToken : performance.now()) - start;
      const answer = loaded.processor.batch_decode(out.slice(null, [prompt, null]), { skip_special_tokens: true })[0];
      outcomes.push({ label: list[i]!.spec.label, budget: list[i]!.budget, right: scoreAnswer(c, answer), ms });
    }
    return outcomes;
  };
}

/**
 * Accuracy per setting and task, and the mean time per setting, from the per-case outcomes of finished cases
 * (`done`: case index → outcomes; a case not in it is left out). Shared by `runEval` and the tools that
 * rebuild tables from an interrupted run's checkpoint.
 */
export function summarizeOutcomes(
  cases: readonly EvalCase[],
  list: readonly { label: string; budget: number | 'all' }[],
  done: ReadonlyMap<number, Outcome[]>,
): { rows: ResultRow[]; timing: TimingRow[]; outcomes: Outcome[][] } {
  const tasks = [...new Set(cases.map((c) => c.task))];
  const rows: ResultRow[] = [];
  const timing: TimingRow[] = [];
  for (const spec of list) {
    const { budget } = spec;
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
  const outcomes = cases.map((_, index) => done.get(index) ?? []);
  return { rows, timing, outcomes };
}

