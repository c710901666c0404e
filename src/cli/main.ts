#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { reportAndExit, UsageError } from './errors.js';
import { registerSelect } from './select.js';
import { registerBench } from './bench.js';
import { registerDemo } from './demo.js';
import { registerFlops } from './flops.js';
import { registerVisualize } from './visualize.js';
import { registerTestbed } from './testbed.js';
import { registerEval } from './eval.js';
import { registerGenerate } from './generate.js';
import { registerCalibrate } from './calibrate.js';
import { registerSplit } from './split.js';
import { bareCommand, finishHelp } from './help.js';

/** Builds the `d2pruner` command tree. Each command lives in its own file and registers itself here. */
export function buildProgram(): Command {
  const program = new Command('d2pruner')
    .description('Visual-token pruning for vision-language models: D2Pruner and its baselines')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({ outputError: () => {} });
  registerSelect(program);
  registerBench(program);
  registerDemo(program);
  registerFlops(program);
  registerVisualize(program);
  registerTestbed(program);
  registerEval(program);
  registerGenerate(program);
  registerCalibrate(program);
  registerSplit(program);
  finishHelp(program);
  return program;
}

async function main(argv: string[]): Promise<void> {
  // `d2pruner … | head` closes the pipe early; that is not an error.
  // Any other write error (a full disk: `> /dev/full`) is one line and exit 2, not a stack trace.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    reportAndExit(new UsageError(`cannot write to standard output (${error.code ?? error.message})`));
  });
  let running: Command | undefined;
  try {
    const program = buildProgram();
    program.hook('preAction', (_program, action) => {
      running = action;
    });
    // `d2pruner` or `d2pruner testbed` alone: the help, exit 0 (not an error).
    const bare = bareCommand(program, argv.slice(2));
    if (bare) {
      bare.outputHelp();
      return;
    }
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError && (error.exitCode === 0 || error.code === 'commander.helpDisplayed')) {
      process.exitCode = 0;
      return;
    }
    reportAndExit(error, running);
  }
}

await main(process.argv);
