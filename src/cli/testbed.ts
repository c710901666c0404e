import type { Command } from 'commander';
import { writeDataset } from '../testbed/dataset.js';
import { createProgress } from './progress.js';
import { UsageError } from './errors.js';

interface GenerateFlags {
  seed: string;
  count: string;
  questions: string;
  out?: string;
  png: boolean;
  raw?: boolean;
  quiet?: boolean;
}

function parseInteger(value: string, flag: string): number {
  if (!/^\d+$/.test(value.trim())) throw new UsageError(`${flag} must be a non-negative integer (got ${JSON.stringify(value)})`);
  return Number(value);
}

/** `d2pruner testbed generate`: the synthetic scenes and questions the testbed VLM is trained and evaluated on. */
export function registerTestbed(program: Command): void {
  const testbed = program.command('testbed').description('the shipped testbed VLM: data generation');
  testbed
    .command('generate')
    .description('write synthetic scenes (PNG) and questions (cases.jsonl) for the testbed VLM; deterministic per seed')
    .option('--seed <S>', 'generator seed (training and evaluation must use different seeds)', '0')
    .option('--count <N>', 'number of scenes', '400')
    .option('--questions <Q>', 'questions per scene (tasks cycle yesno, color, count, grounding)', '1')
    .option('--out <DIR>', 'output folder')
    .option('--no-png', 'skip the PNG images (training reads images.u8)')
    .option('--raw', 'also write images.u8 (raw RGB, 192x192x3 per scene)')
    .option('--quiet', 'no progress output')
    .action(async (flags: GenerateFlags) => {
      if (!flags.out) throw new UsageError('--out DIR is required');
      const count = parseInteger(flags.count, '--count');
      const progress = createProgress({ total: count, label: 'generate', quiet: flags.quiet });
      const cases = await writeDataset({
        seed: parseInteger(flags.seed, '--seed'),
        count,
        questions: parseInteger(flags.questions, '--questions'),
        out: flags.out,
        png: flags.png,
        raw: flags.raw,
        onProgress: (done) => progress.update(done),
      });
      progress.stop();
      if (!flags.quiet) process.stderr.write(`wrote ${count} scenes and ${cases} cases to ${flags.out}\n`);
    });
}
