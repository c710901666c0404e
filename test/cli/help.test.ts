import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

const COMMANDS = ['select', 'bench select', 'demo', 'flops', 'visualize', 'testbed generate', 'testbed prior', 'eval', 'generate', 'calibrate'];

/** The option entries of a help text: each flag line with its wrapped continuation lines. */
function optionEntries(help: string): string[] {
  const section = help.split(/\nOptions:\n/)[1]!.split(/\n\n/)[0]!;
  const entries: string[] = [];
  for (const line of section.split('\n')) {
    if (/^ {2}-/.test(line)) entries.push(line.trim());
    else entries[entries.length - 1] += ` ${line.trim()}`;
  }
  return entries;
}

const helpCache = new Map<string, { code: number | null; stdout: string }>();
/** `d2pruner COMMAND --help`, run once per command. */
function help(command: string): { code: number | null; stdout: string } {
  if (!helpCache.has(command)) helpCache.set(command, runCli([...command.split(' '), '--help']));
  return helpCache.get(command)!;
}

describe('the CLI as a person meets it', () => {
  it('prints the help and exits 0 with no arguments, and for a bare command group', () => {
    for (const args of [[], ['testbed'], ['bench']]) {
      const { code, stdout, stderr } = runCli(args);
      expect(stderr, args.join(' ')).toBe('');
      expect(code, args.join(' ')).toBe(0);
      expect(stdout).toMatch(/^Usage: d2pruner/);
      expect(stdout).not.toMatch(/outputHelp/);
    }
  }, 60_000);

  it.each(COMMANDS)('%s --help shows examples, marks required flags and states each default once', (command) => {
    const { code, stdout } = help(command);
    expect(code).toBe(0);
    expect(stdout).toMatch(new RegExp(`\\nExamples:\\n  \\$ d2pruner ${command}`));
    for (const entry of optionEntries(stdout)) {
      expect((entry.match(/default/gi) ?? []).length, entry).toBeLessThanOrEqual(1);
      if (/\(required\)/.test(entry)) expect(entry).not.toMatch(/default/i);
    }
  }, 30_000);

  it('marks required flags, including the ones a command checks itself', () => {
    const required = (command: string) => optionEntries(help(command).stdout).filter((e) => e.endsWith('(required)')).map((e) => e.split(' ')[0]);
    expect(required('eval')).toEqual(['--data', '--out']);
    expect(required('visualize')).toEqual(['--image', '--prompt']);
    expect(required('testbed generate')).toEqual(['--out']);
    expect(required('generate')).toEqual(['--image', '--prompt']);
    expect(required('calibrate')).toEqual(['--model', '--images', '--out']);
  }, 60_000);

  it('uses the same defaults across commands: budget 64, the shipped testbed model', () => {
    for (const command of ['generate', 'visualize', 'demo']) {
      const budget = optionEntries(help(command).stdout).find((e) => e.startsWith('--budget'))!;
      expect(budget, command).toMatch(/\(default: "64"\)/);
    }
    for (const command of ['generate', 'eval', 'testbed prior', 'demo']) {
      const model = optionEntries(help(command).stdout).find((e) => e.startsWith('--model'))!;
      expect(model, command).toMatch(/\(default: the shipped testbed model\)/);
    }
  }, 60_000);

  it('points select --help to the case-file document that ships with the package', () => {
    const { stdout } = help('select');
    const path = /Case file format .*: (\S+ALGORITHM\.md)/.exec(stdout)?.[1];
    expect(path).toBeDefined();
    expect(existsSync(path!)).toBe(true);
    expect(path).toMatch(/docs\/ALGORITHM\.md$/);
  });

  it.each([
    [['visualize', '--image', 'models/testbed/prior.png', '--prompt', 'p', '--width', 'wide'], /^d2pruner: --width: must be an integer ≥ 64 \(got "wide"\)$/],
    [['generate', '--image', 'x.png', '--prompt', 'p', '--alpha', '0.5abc'], /^d2pruner: --alpha: must be a number \(got "0\.5abc"\)$/],
    [['bench', 'select', '--tokens', '576', '--dim', '8', '--budget', '0x10'], /^d2pruner: --budget: must be an integer ≥ 1 or a fraction in \(0, 1\) \(got "0x10"\)$/],
    [['eval', '--data', 'cases.jsonl', '--budgets', '64,0x10', '--out', 'o'], /^d2pruner: --budgets: must be an integer ≥ 1 \(got "0x10"\)$/],
    [['demo', '--budget', '0x10'], /^d2pruner: --budget: must be an integer ≥ 1 \(got "0x10"\)$/],
  ])('names the flag in flag errors: %j', (args, message) => {
    const { code, stderr } = runCli(args);
    expect(stderr.trim()).toMatch(message);
    expect(code).toBe(2);
  }, 30_000);

  it('demo --selection reports roles only for methods that have them', () => {
    const { code, stdout } = runCli(['demo', '--selection']);
    expect(code).toBe(0);
    const rows = stdout.trim().split('\n').slice(2);
    expect(rows).toHaveLength(8);
    for (const row of rows) {
      if (row.startsWith('d2pruner')) expect(row).toMatch(/\b\d+ pivot, \d+ mis, \d+ fill\b/);
      else expect(row).not.toMatch(/mis|pivot/);
    }
  }, 30_000);
});
