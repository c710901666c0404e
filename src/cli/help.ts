import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';

/** Help shared by every command: examples, required flags marked, and where the case-file format is written. */

/** The contract and case-file format, shipped with the package (src/cli/ and dist/cli/ alike). */
export const ALGORITHM_DOC = fileURLToPath(new URL('../../docs/ALGORITHM.md', import.meta.url));

/** One or two examples per command, by command path. */
const EXAMPLES: Record<string, string[]> = {
  select: ['d2pruner select case.json', 'cat case.json | d2pruner select -'],
  'bench select': ['d2pruner bench select --tokens 576 --dim 4096 --budget 64', 'd2pruner bench select --tokens 2880 --dim 3584 --budget 320 --method divprune --json'],
  demo: ['d2pruner demo', 'd2pruner demo --budget 32 --out demo-32', 'd2pruner demo --selection'],
  flops: ['d2pruner flops --model llava-1.5-7b --budget 64', 'd2pruner flops --config my-model/config.json --budget 0.25 --layer 0'],
  visualize: ['d2pruner visualize --image photo.jpg --prompt "where is the dog?"', 'd2pruner visualize --image photo.jpg --prompt "where is the dog?" --model models/smolvlm --methods d2pruner,fastv --out dog.png'],
  'testbed generate': ['d2pruner testbed generate --seed 1 --count 400 --out data/eval'],
  'testbed prior': ['d2pruner testbed prior --images data/eval/images --out prior-attention.json'],
  eval: ['d2pruner eval --data data/eval/cases.jsonl --out results', 'd2pruner eval --data data/eval/cases.jsonl --methods none,d2pruner,fastv --budgets 64,32 --mode input --out results-input'],
  generate: ['d2pruner generate --image scene.png --prompt "what colour is the circle?"', 'd2pruner generate --model models/llava --image photo.jpg --prompt "describe it" --method fastv --budget 0.25'],
  calibrate: ['d2pruner calibrate --model models/llava --images calibration/ --out prior.json'],
  split: ['d2pruner split --model models/testbed --layer 2', 'd2pruner split --model models/smolvlm --layer 2 --out split-2'],
};

/** Flags a command checks itself (so commander does not know they are required). */
const ALSO_REQUIRED: Record<string, string[]> = {
  visualize: ['--image', '--prompt'],
  'testbed generate': ['--out'],
};

/** Extra lines after a command's examples. */
const NOTES: Record<string, string> = {
  select: `Case file format (and the exact behaviour of every method): ${ALGORITHM_DOC}`,
  flops: 'One of --model or --config is required.',
};

function path(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c && c.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** Adds examples, marks required flags `(required)` and adds notes, on `program` and every command below it. */
export function finishHelp(program: Command): void {
  const visit = (command: Command): void => {
    const key = path(command);
    for (const option of command.options) {
      if ((option.mandatory || ALSO_REQUIRED[key]?.includes(option.long ?? '')) && !option.description.endsWith('(required)')) {
        option.description = `${option.description} (required)`;
      }
    }
    const lines: string[] = [];
    if (EXAMPLES[key]) lines.push('', 'Examples:', ...EXAMPLES[key]!.map((e) => `  $ ${e}`));
    if (NOTES[key]) lines.push('', NOTES[key]!);
    if (lines.length) command.addHelpText('after', lines.join('\n'));
    command.commands.forEach(visit);
  };
  visit(program);
}

/**
 * The command a bare `d2pruner` or a bare group (`d2pruner testbed`) names, whose help is printed (exit 0)
 * instead of an error; undefined when the arguments go further.
 */
export function bareCommand(program: Command, args: string[]): Command | undefined {
  let command = program;
  for (const arg of args) {
    const next = command.commands.find((c) => c.name() === arg || c.aliases().includes(arg));
    if (!next) return undefined;
    command = next;
  }
  return command.commands.length > 0 ? command : undefined;
}
