/**
 * `npm run bench:e2e [-- options]`: end-to-end time to first token, decode speed and memory of random-weight
 * VLMs at real language-model widths, run through transformers.js `generate()` on onnxruntime-node (CPU),
 * unpruned (`none`) and with d2pruner at several budgets, side by side in one run.
 *
 * Each configuration runs in its own child process (one warm-up generation, then the timed repetitions), so
 * its peak resident memory is its own: onnxruntime's CPU arena never shrinks within a process.
 *
 * Options:
 *   --quick            both presets, 576 visual tokens, 3 repetitions, 8 new tokens (default)
 *   --full             both presets, 576 and 2304 visual tokens, 5 repetitions, 16 new tokens
 *   --presets a,b      qwen2-0.5b, smolvlm-256m
 *   --tokens 576,2304  visual tokens per image
 *   --budgets 192,128,64
 *   --layers 0,2       where the pruned runs prune: 0 = decoder input (prompt relevance), K = inside the
 *                      decoder before layer K (automatic split, attention importance); default 0,2
 *   --reps N           timed repetitions per configuration
 *   --new-tokens K     tokens generated per run (≥ 2)
 *   --threads N        onnxruntime intra-op threads (default: onnxruntime's choice)
 *   --no-spin          stop onnxruntime's worker threads from spin-waiting between runs (much faster on a
 *                      small or busy machine, where spinning threads compete with the JS thread and each other)
 *   --out DIR          where e2e.json, e2e.md and e2e.png go (default bench/out)
 *   --from FILE        re-render table and plot from a previous e2e.json (no runs)
 *   --quiet            no progress output
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import {
  BENCH_PRESETS,
  BENCH_PRESET_NAMES,
  BENCH_PROMPT,
  BENCH_VISUAL_TOKENS,
  ensureBenchModel,
  type BenchPresetName,
  type BenchVisualTokens,
} from '../test/fixtures/bench-models.js';
import {
  fmt,
  markdownTable,
  modeLabel,
  overheadTable,
  plotSvg,
  spread,
  summarise,
  type RunSample,
  type WorkerResult,
  type WorkerTask,
} from './e2e-report.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '..');
const MARK = '@@e2e-result ';



// ---------------------------------------------------------------------------------------------------------
// worker: one configuration in a fresh process

async function runWorker(task: WorkerTask): Promise<WorkerResult> {
  const transformers = await import('@huggingface/transformers');
  const { withTokenPruning } = await import('../src/entries/transformers.js');
  const { layerSplitSessions } = await import('../src/adapters/transformers/layer-split.js');
  const { makeTestImage } = await import('../test/fixtures/helpers.js');
  const { env, AutoProcessor, LlavaForConditionalGeneration, LlavaQwen2ForCausalLM, Tensor } = transformers;
  env.allowRemoteModels = false;
  const dir = ensureBenchModel(task.preset, task.visualTokens, { quiet: true });
  const started = performance.now();
  const processor: any = await AutoProcessor.from_pretrained(dir);
  const modelClass: any = BENCH_PRESETS[task.preset].modelType === 'llava_qwen2' ? LlavaQwen2ForCausalLM : LlavaForConditionalGeneration;
  const sessionOptions: Record<string, unknown> = {};
  if (task.threads) Object.assign(sessionOptions, { intraOpNumThreads: task.threads, interOpNumThreads: 1 });
  if (task.noSpin) sessionOptions.extra = { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } };
  const model: any = await modelClass.from_pretrained(dir, { dtype: 'fp32', device: 'cpu', session_options: Object.keys(sessionOptions).length ? sessionOptions : undefined });
  const loadMs = performance.now() - started;
  const rssAfterLoadMb = process.memoryUsage().rss / 2 ** 20;

  // time every session call (shared by the pruned wrapper and the model)
  const calls: { session: string; start: number; end: number; ms: number }[] = [];
  const timeRuns = (session: any, name: string) => {
    const run = session.run.bind(session);
    session.run = async (...args: unknown[]) => {
      const start = performance.now();
      try {
        return await run(...args);
      } finally {
        const end = performance.now();
        calls.push({ session: name, start, end, ms: end - start });
      }
    };
  };
  for (const name of ['embed_tokens', 'vision_encoder', 'decoder_model_merged']) timeRuns(model.sessions[name], name);
  const layer = task.budget === null ? 0 : (task.layer ?? 0);
  const decoderFile = join(dir, 'onnx', 'decoder_model_merged.onnx');
  let splitMs: number | undefined;
  if (layer > 0) {
    // Split now (once per model and layer, cached by the wrapper) so the parts get this run's session options
    // and their runs can be timed; the wrapper below finds these sessions in its cache.
    const t0 = performance.now();
    const split = await layerSplitSessions(model, layer, decoderFile, { ...sessionOptions });
    splitMs = performance.now() - t0;
    timeRuns(split.prefix, 'prefix');
    timeRuns(split.suffix, 'suffix');
  }

  const messages = [{ role: 'user', content: [{ type: 'image' }, { type: 'text', text: BENCH_PROMPT }] }];
  const text = processor.apply_chat_template(messages, { add_generation_prompt: true });
  const inputs = await processor(await makeTestImage(640, 480), text);
  const runner: any =
    task.budget === null
      ? model
      : withTokenPruning(model, { method: 'd2pruner', budget: task.budget, tokenizer: processor, ...(layer > 0 ? { layer, decoder: decoderFile } : {}) });

  const once = async (newTokens: number): Promise<RunSample> => {
    calls.length = 0;
    const stamps: number[] = [];
    const streamer = { put: () => void stamps.push(performance.now()), end: () => {} };
    // A fresh pixel buffer per run, as a new image would be: the layer-K path reuses the vision encoder, the
    // embeddings and layers < K for a pixel buffer (and prompt) it has already seen (layer-split.ts sharedPrefix).
    const pixels = inputs.pixel_values;
    const fresh = { ...inputs, pixel_values: new Tensor(pixels.type, pixels.data.slice(), pixels.dims) };
    const t0 = performance.now();
    await runner.generate({ ...fresh, max_new_tokens: newTokens, min_new_tokens: newTokens, do_sample: false, streamer });
    const t1 = performance.now();
    // put() #1 is the prompt, #2 the first generated token
    const first = stamps[1] ?? t1;
    const report = task.budget === null ? null : runner.lastPruning;
    if (layer > 0 && report?.layer !== layer) throw new Error(`expected a layer-${layer} pruning report, got layer ${report?.layer}`);
    // the prefill: session calls that started before the first generated token
    const prefill = calls.filter((c) => c.start < first);
    const firstOf = (name: string) => prefill.find((c) => c.session === name);
    const sum = (name: string) => prefill.filter((c) => c.session === name).reduce((a, c) => a + c.ms, 0);
    const prefix = firstOf('prefix');
    const last = layer > 0 ? firstOf('suffix') : firstOf('decoder_model_merged');
    if (layer > 0 && firstOf('decoder_model_merged')) throw new Error('the unsplit decoder ran during a layer-K prefill');
    if (layer > 0 && !prefix) throw new Error('the layer-K prefill did not run the prefix (a reused prefix would time only the suffix)');
    const ttftMs = first - t0;
    const visionMs = sum('vision_encoder');
    const decoderPrefillMs = (last?.ms ?? NaN) + (prefix?.ms ?? 0);
    const prefixMs = prefix?.ms ?? 0;
    const selectMs = report?.selectMs ?? 0;
    const importanceMs = report?.importanceMs ?? 0;
    const overheadImportanceMs = Math.max(0, importanceMs - prefixMs);
    const visionEnd = Math.max(...prefill.filter((c) => c.session === 'vision_encoder').map((c) => c.end));
    const gatherMs = (last?.start ?? NaN) - visionEnd - prefixMs - overheadImportanceMs - selectMs;
    const embedMs = sum('embed_tokens');
    const overheadMs = ttftMs - visionMs - decoderPrefillMs;
    return {
      ttftMs,
      visionMs,
      decoderPrefillMs,
      prefixMs,
      decodeMsPerToken: (t1 - first) / Math.max(1, newTokens - 1),
      selectMs,
      importanceMs,
      overheadMs,
      overheadImportanceMs,
      gatherMs,
      embedMs,
      otherMs: overheadMs - overheadImportanceMs - selectMs - gatherMs - embedMs,
    };
  };

  await once(2); // warm-up: first-run allocations and kernel selection
  const samples: RunSample[] = [];
  for (let r = 0; r < task.reps; r += 1) samples.push(await once(task.newTokens));
  const report = task.budget === null ? null : runner.lastPruning;
  const promptTokens = inputs.input_ids.dims[1];
  const visualBefore = BENCH_PRESETS[task.preset] ? task.visualTokens : 0;
  return {
    task,
    promptTokens,
    visualBefore,
    visualAfter: report?.after ?? visualBefore,
    prefillSequence: report?.sequence.after ?? promptTokens,
    loadMs,
    rssAfterLoadMb,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
    splitMs,
    samples,
  };
}

function writeAtomic(path: string, data: string | Buffer): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

// ---------------------------------------------------------------------------------------------------------
// driver

function parseList(value: string | undefined, name: string, allowed?: readonly (string | number)[]): string[] {
  if (value === undefined) return [];
  const items = value.split(',').map((s) => s.trim()).filter(Boolean);
  for (const item of items) {
    if (allowed && !allowed.map(String).includes(item)) {
      throw new Error(`--${name}: '${item}' is not one of ${allowed.join(', ')}`);
    }
  }
  return items;
}

function positiveInt(value: string | undefined, name: string, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name}: '${value}' must be an integer ≥ ${min}`);
  return n;
}

function runChild(task: WorkerTask): WorkerResult {
  const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--worker', JSON.stringify(task)], {
    cwd: REPO,
    encoding: 'utf8',
    maxBuffer: 64 * 2 ** 20,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const line = child.stdout.split('\n').find((l) => l.startsWith(MARK));
  if (child.status !== 0 || !line) {
    throw new Error(`worker for ${JSON.stringify(task)} failed (exit ${child.status}):\n${child.stderr.slice(-4000)}`);
  }
  return JSON.parse(line.slice(MARK.length)) as WorkerResult;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      worker: { type: 'string' },
      quick: { type: 'boolean' },
      full: { type: 'boolean' },
      presets: { type: 'string' },
      tokens: { type: 'string' },
      budgets: { type: 'string' },
      layers: { type: 'string' },
      reps: { type: 'string' },
      'new-tokens': { type: 'string' },
      threads: { type: 'string' },
      'no-spin': { type: 'boolean' },
      out: { type: 'string' },
      quiet: { type: 'boolean' },
      from: { type: 'string' },
    },
    strict: true,
  });
  if (values.worker) {
    const result = await runWorker(JSON.parse(values.worker) as WorkerTask);
    process.stdout.write(`${MARK}${JSON.stringify(result)}\n`);
    return;
  }
  const full = Boolean(values.full);
  const presets = (parseList(values.presets, 'presets', BENCH_PRESET_NAMES) as BenchPresetName[]).length
    ? (parseList(values.presets, 'presets', BENCH_PRESET_NAMES) as BenchPresetName[])
    : BENCH_PRESET_NAMES;
  const tokenList = parseList(values.tokens, 'tokens', BENCH_VISUAL_TOKENS).map(Number) as BenchVisualTokens[];
  const tokens: BenchVisualTokens[] = tokenList.length ? tokenList : full ? [...BENCH_VISUAL_TOKENS] : [576];
  const budgets = parseList(values.budgets, 'budgets').map((b) => positiveInt(b, 'budgets', 0));
  const budgetList = budgets.length ? budgets : [192, 128, 64];
  const layerValues = parseList(values.layers, 'layers').map((k) => positiveInt(k, 'layers', 0, 0));
  const layers = layerValues.length ? [...new Set(layerValues)] : [0, 2];
  const reps = positiveInt(values.reps, 'reps', full ? 5 : 3);
  const newTokens = positiveInt(values['new-tokens'], 'new-tokens', full ? 16 : 8, 2);
  const threads = values.threads === undefined ? null : positiveInt(values.threads, 'threads', 1);
  const noSpin = Boolean(values['no-spin']);
  const outDir = resolve(values.out ?? join(REPO, 'bench', 'out'));
  const quiet = Boolean(values.quiet);
  const log = (msg: string) => {
    if (!quiet) process.stderr.write(`${msg}\n`);
  };

  if (values.from) {
    const previous = JSON.parse(readFileSync(values.from, 'utf8')) as { environment: Record<string, unknown>; options: Record<string, unknown>; results: WorkerResult[] };
    await writeOutputs(outDir, previous.environment, previous.options, previous.results);
    return;
  }
  for (const preset of presets) for (const n of tokens) ensureBenchModel(preset, n, { quiet });
  const { createProgress } = await import('../src/cli/progress.js');
  const tasks: WorkerTask[] = [];
  for (const preset of presets) {
    for (const n of tokens) {
      tasks.push({ preset, visualTokens: n, budget: null, layer: 0, reps, newTokens, threads, noSpin });
      for (const layer of layers) for (const b of budgetList) tasks.push({ preset, visualTokens: n, budget: b, layer, reps, newTokens, threads, noSpin });
    }
  }
  log(`e2e: ${tasks.length} configurations × (1 warm-up + ${reps} runs), ${newTokens} new tokens each, ${os.cpus().length} CPUs`);
  const progress = createProgress({ total: tasks.length, label: 'e2e', quiet, intervalMs: 1 });
  const results: WorkerResult[] = [];
  for (const task of tasks) {
    results.push(runChild(task));
    const last = results.at(-1)!;
    log(
      `  ${task.preset} ${task.visualTokens} ${task.budget === null ? 'none' : `d2pruner@${task.budget}${task.layer ? ` layer ${task.layer}` : ' input'}`}: ` +
        `TTFT ${fmt(spread(last.samples.map((s) => s.ttftMs)).median)} ms, vision ${fmt(spread(last.samples.map((s) => s.visionMs)).median)} ms, ` +
        `decoder ${fmt(spread(last.samples.map((s) => s.decoderPrefillMs)).median)} ms (prefix ${fmt(spread(last.samples.map((s) => s.prefixMs ?? 0)).median)} ms)`,
    );
    progress.tick();
  }
  progress.stop();

  const environment = {
    date: new Date().toISOString(),
    node: process.version,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cpus: os.cpus().length,
    loadAverage: os.loadavg(),
    totalMemMb: Math.round(os.totalmem() / 2 ** 20),
    onnxruntime: 'onnxruntime-node (CPU, fp32)',
  };
  await writeOutputs(outDir, environment, { presets, tokens, budgets: budgetList, layers, reps, newTokens, threads, noSpin, prompt: BENCH_PROMPT }, results);
}

/** Writes e2e.json, e2e.md, e2e.svg and e2e.png, prints the table and the targets. */
async function writeOutputs(
  outDir: string,
  environment: Record<string, unknown>,
  options: Record<string, unknown>,
  results: WorkerResult[],
): Promise<void> {
  const rows = summarise(results);
  const table = `${markdownTable(rows)}\n\nOverhead (issue 15): TTFT − vision encoder − decoder sessions, medians in ms\n\n${overheadTable(rows)}`;
  mkdirSync(outDir, { recursive: true });
  writeAtomic(join(outDir, 'e2e.json'), `${JSON.stringify({ environment, options, rows, results }, null, 2)}\n`);
  writeAtomic(join(outDir, 'e2e.md'), `${table}\n`);
  const svg = plotSvg(rows);
  writeAtomic(join(outDir, 'e2e.svg'), svg);
  writeAtomic(join(outDir, 'e2e.png'), await sharp(Buffer.from(svg)).png().toBuffer());
  process.stdout.write(`${table}\n\n`);
  const combos = new Set(rows.map((r) => `${r.preset}|${r.visualTokens}`));
  for (const combo of combos) {
    const [preset, n] = combo.split('|');
    for (const at64 of rows.filter((r) => r.preset === preset && String(r.visualTokens) === n && r.method === 'd2pruner' && r.kept === 64)) {
      process.stdout.write(
        `${preset} ${n}→64 at ${modeLabel(at64)}: decoder prefill ${fmt(at64.prefillSpeedup, 2)}× faster (target ≥ 4×), TTFT ${fmt(at64.ttftSpeedup, 2)}×, ` +
          `selection ${fmt(100 * at64.selectShareOfTtft, 2)}% of pruned TTFT (target ≤ 2%), ` +
          `importance ${fmt(at64.overheadImportanceMs.median, 1)} ms outside sessions` +
          `${at64.layer > 0 ? `, prefix ${fmt(100 * at64.prefixShare)}% of the decoder prefill` : ''}, ` +
          `overhead ${fmt(at64.overheadMs.median)} ms = ${fmt((100 * at64.overheadMs.median) / at64.ttftMs.median, 1)}% of TTFT\n`,
      );
    }
  }
  process.stdout.write(`\nwrote ${join(outDir, 'e2e.json')}, e2e.md, e2e.png\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:e2e: ${error instanceof Error ? error.message : String(error)}\n`);
  // bad options (ours or parseArgs') exit 2, failures while running exit 1
  const code = (error as { code?: string }).code ?? '';
  const usage = error instanceof Error && (error.message.startsWith('--') || code.startsWith('ERR_PARSE_ARGS'));
  process.exit(usage ? 2 : 1);
});
