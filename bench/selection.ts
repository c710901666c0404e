/**
 * Selection speed: every method at LLaVA-1.5 (576×4096 → 64) and LLaVA-NeXT (2880×3584 → 320) sizes, with
 * the naive numpy D2Pruner (full cosine matrix via BLAS + greedy walk) timed side by side in the same run
 * when python3 with numpy is present. Prints a Markdown table and writes bench/out/selection.json.
 *
 *   npm run bench                      # full table
 *   npm run bench -- --quick           # fewer runs, d2pruner + numpy only
 *   npm run bench -- --kernels         # only DivPrune/CDPruner: the direct forms (old) vs the fast ones
 *                                      # (WebAssembly SIMD and JS paths) side by side, kept sets compared
 *
 * Every row also times one Float32Array copy of the same features (the memory floor) in the same run.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { syntheticInput, type FeatureKind } from '../src/bench/synthetic.js';
import { summarize, type TimingSummary } from '../src/bench/timing.js';
import { createProgress } from '../src/cli/progress.js';
import { methodNames, select, type SelectOptions } from '../src/index.js';
import { setKernelBackend } from '../src/core/kernels.js';
import { prepareInput } from '../src/core/validate.js';
import { cdprunerReference } from '../src/methods/cdpruner.js';
import { divpruneReference } from '../src/methods/divprune.js';

const quick = process.argv.includes('--quick');
const kernelsOnly = process.argv.includes('--kernels');
const sizes = [
  { tokens: 576, dim: 4096, budget: 64 },
  { tokens: 2880, dim: 3584, budget: 320 },
];
const kinds: FeatureKind[] = ['random', 'clustered'];
const methods = quick ? ['d2pruner'] : [...methodNames];

/** Times `task` for up to `maxRuns` runs or `budgetMs` of total time (at least 3 runs), after one warm-up. */
function timeAdaptive(task: () => unknown, maxRuns: number, budgetMs: number): TimingSummary {
  task();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < maxRuns && (times.length < 3 || performance.now() - start < budgetMs)) {
    const t = performance.now();
    task();
    times.push(performance.now() - t);
  }
  return summarize(times);
}

function numpyAvailable(): boolean {
  return spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' }).status === 0;
}

function runNumpy(input: ReturnType<typeof syntheticInput>, runs: number): (TimingSummary & { keep: number[]; numpy: string }) | null {
  const dir = mkdtempSync(join(tmpdir(), 'd2pruner-bench-'));
  try {
    const paths = ['features', 'importance', 'prior'].map((name) => join(dir, `${name}.f32`));
    writeFileSync(paths[0], input.features as Float32Array);
    writeFileSync(paths[1], input.importance as Float32Array);
    writeFileSync(paths[2], input.prior as Float32Array);
    // The machine sets these for old OpenBLAS builds; they slow a current numpy, so unset them here only.
    const env = { ...process.env };
    delete env.OPENBLAS_CORETYPE;
    delete env.OPENBLAS_L2_SIZE;
    const [tokens, dim] = input.dims;
    const result = spawnSync('python3', [join('bench', 'naive_d2pruner.py'), ...paths, String(tokens), String(dim), String(input.budget), String(runs)], {
      encoding: 'utf8',
      env,
      maxBuffer: 64 << 20,
    });
    if (result.status !== 0) {
      process.stderr.write(`numpy reference failed: ${result.stderr.trim().split('\n').at(-1)}\n`);
      return null;
    }
    return JSON.parse(result.stdout.trim().split('\n').at(-1)!);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface Row {
  method: string;
  size: string;
  features: FeatureKind;
  median_ms: number;
  min_ms: number;
  max_ms: number;
  runs: number;
  copy_median_ms: number;
  ratio_to_copy: number;
  numpy_median_ms?: number;
  ratio_to_numpy?: number;
  same_keep_as_numpy?: boolean;
}

if (kernelsOnly) {
  // Old (direct form) vs new, one run each at the large size (the old DivPrune takes seconds), same process.
  const lines = ['| method | size (N×D→n) | old ms | new wasm ms | new js ms | old/wasm | old/js | same keep (wasm, js) |', '|---|---|---:|---:|---:|---:|---:|---|'];
  for (const size of sizes) {
    const raw = syntheticInput({ ...size, seed: 0, kind: 'random' });
    const prepared = prepareInput(raw, { importance: true, grid: false }, 'bench');
    for (const method of ['divprune', 'cdpruner'] as const) {
      const runs = size.tokens > 1000 ? 1 : 3;
      const time = (task: () => { keep: Int32Array }) => {
        let keep = '';
        const times: number[] = [];
        for (let r = 0; r < runs; r++) {
          const t = performance.now();
          keep = Array.from(task().keep).join();
          times.push(performance.now() - t);
        }
        return { ms: times.sort((a, b) => a - b)[runs >> 1], keep };
      };
      const old = time(() => (method === 'divprune' ? divpruneReference(prepared) : cdprunerReference(prepared, { theta: undefined })));
      setKernelBackend('wasm');
      const wasm = time(() => select(raw, { method }));
      setKernelBackend('js');
      const js = time(() => select(raw, { method }));
      setKernelBackend('auto');
      lines.push(
        `| ${method} | ${size.tokens}×${size.dim}→${size.budget} | ${old.ms.toFixed(0)} | ${wasm.ms.toFixed(0)} | ${js.ms.toFixed(0)} | ${(old.ms / wasm.ms).toFixed(2)} | ${(old.ms / js.ms).toFixed(2)} | ${wasm.keep === old.keep ? 'yes' : 'NO'}, ${js.keep === old.keep ? 'yes' : 'NO'} |`,
      );
      process.stderr.write(lines.at(-1) + '\n');
    }
  }
  process.stdout.write(lines.join('\n') + '\n');
  process.exit(0);
}

const withNumpy = numpyAvailable();
const rows: Row[] = [];
const jobs = sizes.flatMap((size) => kinds.flatMap((kind) => methods.filter((m) => m === 'd2pruner' || kind === 'random').map((method) => ({ size, kind, method }))));
const progress = createProgress({ total: jobs.length, label: 'bench', quiet: process.argv.includes('--quiet') });
let numpyNumbers: Map<string, ReturnType<typeof runNumpy>> = new Map();
for (const { size, kind, method } of jobs) {
  const input = syntheticInput({ ...size, seed: 0, kind });
  const label = `${size.tokens}×${size.dim}→${size.budget}`;
  const summary = timeAdaptive(() => select(input, { method } as SelectOptions), quick ? 5 : 15, quick ? 1000 : 4000);
  const source = input.features as Float32Array;
  const copy = timeAdaptive(() => new Float32Array(source), quick ? 5 : 15, 500);
  const row: Row = { method, size: label, features: kind, ...summary, copy_median_ms: copy.median_ms, ratio_to_copy: summary.median_ms / copy.median_ms };
  if (method === 'd2pruner' && withNumpy) {
    const key = `${label}/${kind}`;
    if (!numpyNumbers.has(key)) numpyNumbers.set(key, runNumpy(input, quick ? 5 : 9));
    const numpy = numpyNumbers.get(key);
    if (numpy) {
      row.numpy_median_ms = numpy.median_ms;
      row.ratio_to_numpy = summary.median_ms / numpy.median_ms;
      row.same_keep_as_numpy = JSON.stringify(numpy.keep) === JSON.stringify(Array.from(select(input, { method: 'd2pruner' }).keep));
    }
  }
  rows.push(row);
  progress.tick();
}
progress.stop();

const f = (x: number | undefined, digits = 2) => (x === undefined ? '–' : x.toFixed(digits));
const lines = [
  `| method | size (N×D→n) | features | median ms | min–max ms | runs | copy ms | × copy |${withNumpy ? ' numpy naive ms | ratio | same keep |' : ''}`,
  `|---|---|---|---:|---:|---:|---:|---:|${withNumpy ? '---:|---:|---|' : ''}`,
  ...rows.map(
    (r) =>
      `| ${r.method} | ${r.size} | ${r.features} | ${f(r.median_ms)} | ${f(r.min_ms)}–${f(r.max_ms)} | ${r.runs} | ${f(r.copy_median_ms)} | ${f(r.ratio_to_copy)} |` +
      (withNumpy ? ` ${f(r.numpy_median_ms)} | ${f(r.ratio_to_numpy)} | ${r.same_keep_as_numpy === undefined ? '–' : r.same_keep_as_numpy ? 'yes' : 'NO'} |` : ''),
  ),
];
process.stdout.write(lines.join('\n') + '\n');
if (!withNumpy) process.stdout.write('(python3 with numpy not found: numpy column skipped)\n');
mkdirSync(join('bench', 'out'), { recursive: true });
const outPath = join('bench', 'out', 'selection.json');
writeFileSync(outPath + '.tmp', JSON.stringify({ node: process.version, rows }, null, 2));
renameSync(outPath + '.tmp', outPath);
