import type { Command } from 'commander';
import { syntheticInput, type FeatureKind } from '../bench/synthetic.js';
import { timeRuns } from '../bench/timing.js';
import { select, type SelectOptions } from '../select.js';
import { ValidationError } from '../core/errors.js';
import { UsageError } from './errors.js';
import { budgetFlag, integerFlag, methodFlag } from './flags.js';

/** Most feature values `bench select` allocates (2^28 float32 values, 1 GiB). */
const MAX_BENCH_VALUES = 2 ** 28;

export function registerBench(program: Command): void {
  const bench = program.command('bench').description('benchmarks');
  bench
    .command('select')
    .description('time one selection method on seeded synthetic inputs (warm-up, then repeated runs)')
    .requiredOption('--tokens <N>', 'number of visual tokens', (text: string) => integerFlag(text, '--tokens'))
    .requiredOption('--dim <D>', 'feature width', (text: string) => integerFlag(text, '--dim'))
    .requiredOption('--budget <n>', 'tokens to keep (integer or fraction in (0, 1))', (text: string) => budgetFlag(text))
    .option('--method <name>', 'selection method', (text: string) => methodFlag(text), 'd2pruner')
    .option('--features <kind>', 'synthetic features: random | clustered', 'random')
    .option('--runs <k>', 'timed runs', (text: string) => integerFlag(text, '--runs'), 9)
    .option('--warmup <k>', 'untimed warm-up runs', (text: string) => integerFlag(text, '--warmup', 0), 2)
    .option('--seed <s>', 'seed of the synthetic input', (text: string) => integerFlag(text, '--seed', 0), 0)
    .option('--json', 'print a JSON summary as the last line')
    .action((flags) => {
      if (flags.features !== 'random' && flags.features !== 'clustered') {
        throw new UsageError(`--features: must be random or clustered (got ${JSON.stringify(flags.features)})`);
      }
      // Features are allocated as one Float32Array: refuse sizes that cannot be (or should not be) allocated.
      if (flags.tokens * flags.dim > MAX_BENCH_VALUES) {
        throw new ValidationError('--tokens × --dim', `${flags.tokens} × ${flags.dim}`, `is more than ${MAX_BENCH_VALUES} feature values (1 GiB of float32)`);
      }
      const input = syntheticInput({ tokens: flags.tokens, dim: flags.dim, budget: flags.budget, seed: flags.seed, kind: flags.features as FeatureKind });
      const options = { method: flags.method } as SelectOptions;
      const first = select(input, options); // validates everything before timing starts
      const summary = timeRuns(() => select(input, options), { runs: flags.runs, warmup: flags.warmup });
      if (flags.json) {
        process.stdout.write(JSON.stringify({ ...summary, method: flags.method, tokens: flags.tokens, dim: flags.dim, kept: first.keep.length }) + '\n');
      } else {
        const f = (ms: number) => ms.toFixed(3);
        process.stdout.write(
          `${flags.method} ${flags.tokens}x${flags.dim} -> ${first.keep.length}: median ${f(summary.median_ms)} ms, min ${f(summary.min_ms)} ms, max ${f(summary.max_ms)} ms (${summary.runs} runs)\n`,
        );
      }
    });
}
