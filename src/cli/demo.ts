import type { Command } from 'commander';
import { syntheticInput } from '../bench/synthetic.js';
import { methodNames } from '../methods/registry.js';
import { select, type SelectOptions } from '../select.js';
import { TESTBED_MODEL } from './eval.js';
import { resolve } from 'node:path';
import { ValidationError } from '../core/errors.js';
import { prepareOutputFolder } from '../io/folders.js';
import { checkModelFiles } from '../io/model-files.js';
import { integerFlag } from './flags.js';

/**
 * What a selection's roles say: pivot / MIS / fill for d2pruner, whose roles mean that; for the other
 * methods only top-up fill tokens, if any (their other tokens carry role 1 by convention, which is not MIS).
 */
export function describeRoles(method: string, roles: ArrayLike<number>): string {
  const count = (role: number) => Array.prototype.filter.call(roles, (r: number) => r === role).length;
  if (method === 'd2pruner') return `${count(0)} pivot, ${count(1)} mis, ${count(2)} fill`;
  return count(2) > 0 ? `${count(2)} fill` : '–';
}

/** Selection-only demo: one synthetic LLaVA-1.5-sized case (576 tokens) through every method. */
export function runSelectionDemo(write: (line: string) => void = (line) => process.stdout.write(line + '\n')): void {
  const input = syntheticInput({ tokens: 576, dim: 1024, budget: 64, seed: 7, kind: 'clustered' });
  write('Synthetic case: 576 visual tokens (24x24 grid) x 1024 dims, keep 64');
  write(`${'method'.padEnd(10)} ${'kept'.padStart(5)}  ${'roles'.padEnd(26)} ${'ms'.padStart(8)}`);
  for (const method of methodNames) {
    const start = performance.now();
    const selection = select(input, { method } as SelectOptions);
    const ms = performance.now() - start;
    write(`${method.padEnd(10)} ${String(selection.keep.length).padStart(5)}  ${describeRoles(method, selection.roles).padEnd(26)} ${ms.toFixed(2).padStart(8)}`);
  }
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('run the demo (what `npm start` runs): a generated scene, a grounding and a yes/no question, unpruned vs d2pruner, with an overlay PNG')
    .option('--model <dir>', 'model folder (default: the shipped testbed model)')
    .option('--budget <n>', 'visual tokens kept by d2pruner', '64')
    .option('--out <dir>', 'folder for the scene and overlay PNGs', 'demo-out')
    .option('--selection', 'run the selection-only demo instead (a synthetic case through every method)')
    .action(async (flags: { model?: string; budget: string; out: string; selection?: boolean }) => {
      if (flags.selection) return runSelectionDemo();
      const budget = integerFlag(flags.budget, '--budget');
      if (budget > 576) throw new ValidationError('--budget', flags.budget, 'must be an integer in [1, 576] (the testbed model has 576 visual tokens)');
      checkModelFiles(resolve(flags.model ?? TESTBED_MODEL));
      prepareOutputFolder(flags.out);
      const { runTestbedDemo } = await import('../testbed/demo.js');
      await runTestbedDemo({ model: flags.model ?? TESTBED_MODEL, out: flags.out, budget });
    });
}
