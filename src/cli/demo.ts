import type { Command } from 'commander';
import { syntheticInput } from '../bench/synthetic.js';
import { methodNames } from '../methods/registry.js';
import { select, type SelectOptions } from '../select.js';
import { TESTBED_MODEL } from './eval.js';
import { prepareOutputFolder } from '../io/folders.js';

/** Selection-only demo: one synthetic LLaVA-1.5-sized case (576 tokens) through every method. */
export function runSelectionDemo(write: (line: string) => void = (line) => process.stdout.write(line + '\n')): void {
  const input = syntheticInput({ tokens: 576, dim: 1024, budget: 64, seed: 7, kind: 'clustered' });
  write('Synthetic case: 576 visual tokens (24x24 grid) x 1024 dims, keep 64');
  write('method      kept  pivot  mis  fill    ms');
  for (const method of methodNames) {
    const start = performance.now();
    const selection = select(input, { method } as SelectOptions);
    const ms = performance.now() - start;
    const count = (role: number) => selection.roles.filter((r) => r === role).length;
    write(
      `${method.padEnd(10)} ${String(selection.keep.length).padStart(5)} ${String(count(0)).padStart(6)} ${String(count(1)).padStart(4)} ${String(count(2)).padStart(5)} ${ms.toFixed(2).padStart(7)}`,
    );
  }
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('run the demo (what `npm start` runs): the shipped testbed VLM, unpruned vs d2pruner at 64 tokens')
    .option('--out <dir>', 'folder for the scene and overlay PNGs', 'demo-out')
    .option('--selection', 'run the selection-only demo instead (a synthetic case through every method)')
    .action(async (flags: { out: string; selection?: boolean }) => {
      if (flags.selection) return runSelectionDemo();
      prepareOutputFolder(flags.out);
      const { runTestbedDemo } = await import('../testbed/demo.js');
      await runTestbedDemo({ model: TESTBED_MODEL, out: flags.out });
    });
}
