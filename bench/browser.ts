/**
 * `npm run bench:browser [-- options]`: the browser demo page (examples/web: transformers.js on
 * onnxruntime-web, wasm, one thread) in headless Chromium, asked the same question unpruned and pruned with
 * d2pruner at several budgets, at the decoder input and at layer K, with the first pruned answer's time split
 * as bench:e2e splits it: overhead = TTFT − vision encoder − decoder runs, and its parts (importance,
 * selection, merge + gather, embed_tokens, other: generate() setup and sampling). Medians of the repetitions;
 * the page warms both paths up before the first run.
 *
 * Options:
 *   --budgets 192,128,64   (default)
 *   --layers 0,2           0 = decoder input (prompt relevance), K = before decoder layer K (default 0,2)
 *   --reps N               repetitions per configuration (default 3)
 *   --out DIR              where browser.json and browser.md go (default bench/out)
 *
 * Needs Debian's Chromium (`apt-get install chromium`, or CHROMIUM_PATH); downloads nothing.
 */
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { askOnce, CHROMIUM, REPO, startDemo, waitReady } from '../test/browser/demo-page.js';
import { fmt, spread } from './e2e-report.js';

interface Sample {
  fullTtftMs: number;
  ttftMs: number;
  visionMs: number;
  decoderMs: number;
  overheadMs: number;
  importanceMs: number;
  selectMs: number;
  mergeGatherMs: number;
  textEmbedMs: number;
  otherMs: number;
}

interface Config {
  layer: number;
  budget: number;
  tokens: number;
  samples: Sample[];
}

function list(value: string | undefined, fallback: number[], name: string): number[] {
  if (value === undefined) return fallback;
  return value.split(',').map((item) => {
    const n = Number(item.trim());
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${name}: '${item}' must be an integer ≥ 0`);
    return n;
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { budgets: { type: 'string' }, layers: { type: 'string' }, reps: { type: 'string' }, out: { type: 'string' } }, strict: true });
  const budgets = list(values.budgets, [192, 128, 64], 'budgets');
  const layers = list(values.layers, [0, 2], 'layers');
  const reps = list(values.reps, [3], 'reps')[0]!;
  if (reps < 1) throw new Error('--reps must be ≥ 1');
  const outDir = resolve(values.out ?? join(REPO, 'bench', 'out'));
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)`);

  const demo = await startDemo();
  const configs: Config[] = [];
  try {
    const page = await demo.newPage();
    await page.goto(demo.url);
    await waitReady(page);
    const tokens = Number(await page.getAttribute('#budget', 'max'));
    for (const layer of layers) {
      for (const budget of budgets) {
        if (budget > tokens) continue;
        const config: Config = { layer, budget, tokens, samples: [] };
        for (let r = 0; r < reps; r++) {
          const { last, pruning } = await askOnce(page, { method: 'd2pruner', budget, layer });
          if ((pruning.layer ?? 0) !== layer) throw new Error(`asked for layer ${layer}, the page pruned at ${pruning.layer ?? 0}`);
          const b = pruning.breakdown;
          config.samples.push({ fullTtftMs: last.full.ttft, ...b });
          process.stderr.write(`  layer ${layer} budget ${budget}: TTFT ${fmt(b.ttftMs)} ms (unpruned ${fmt(last.full.ttft)}), overhead ${fmt(b.overheadMs, 1)} ms\n`);
        }
        configs.push(config);
      }
    }
    if (demo.external.length) throw new Error(`the page fetched from outside this machine: ${demo.external.join(', ')}`);
  } finally {
    await demo.close();
  }

  const median = (c: Config, key: keyof Sample) => spread(c.samples.map((s) => s[key])).median;
  const header =
    '| pruned at | kept | unpruned TTFT ms | pruned TTFT ms | TTFT speedup | vision ms | decoder ms | overhead ms (% of TTFT) | importance ms | selection ms | merge + gather ms | embed_tokens ms | other ms |\n' +
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|';
  const rows = configs.map((c) => {
    const ttft = median(c, 'ttftMs');
    const full = median(c, 'fullTtftMs');
    const overhead = median(c, 'overheadMs');
    return (
      `| ${c.layer ? `layer ${c.layer}` : 'input'} | ${c.budget} / ${c.tokens} | ${fmt(full)} | ${fmt(ttft)} | ${(full / ttft).toFixed(2)}× | ${fmt(median(c, 'visionMs'))} | ${fmt(median(c, 'decoderMs'))} | ` +
      `${fmt(overhead, 1)} (${((100 * overhead) / ttft).toFixed(1)}%) | ${fmt(median(c, 'importanceMs'), 1)} | ${fmt(median(c, 'selectMs'), 1)} | ${fmt(median(c, 'mergeGatherMs'), 1)} | ${fmt(median(c, 'textEmbedMs'), 1)} | ${fmt(median(c, 'otherMs'), 1)} |`
    );
  });
  const table = `${header}\n${rows.join('\n')}`;
  const environment = { node: process.version, cpus: os.cpus().length, cpu: os.cpus()[0]?.model, load: os.loadavg(), chromium: CHROMIUM };
  mkdirSync(outDir, { recursive: true });
  for (const [name, data] of [
    ['browser.json', JSON.stringify({ environment, options: { budgets, layers, reps }, configs }, null, 2)],
    ['browser.md', `${table}\n`],
  ] as const) {
    const tmp = join(outDir, `${name}.tmp-${process.pid}`);
    writeFileSync(tmp, data);
    renameSync(tmp, join(outDir, name));
  }
  process.stdout.write(`${table}\n\nmedians of ${reps} runs; ${environment.cpus} CPUs, load ${environment.load.map((l) => l.toFixed(1)).join(' ')}; written to ${outDir}\n`);
}

main().catch((error) => {
  process.stderr.write(`bench:browser: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
