import { mkdirSync, mkdtempSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeDataset } from '../../src/testbed/dataset.js';
import { runCli } from './run-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'd2pruner-out-'));
const file = join(dir, 'a-file.txt');
const folder = join(dir, 'a-folder');
const data = join(dir, 'data');

beforeAll(async () => {
  writeFileSync(file, 'x');
  mkdirSync(folder);
  symlinkSync(join(dir, 'nowhere'), join(dir, 'dangling'));
  await writeDataset({ seed: 3, count: 2, out: data });
});

// Each command with everything but --out valid, so that a bad --out is the only problem.
const folderCommands: [string, () => string[]][] = [
  ['eval', () => ['eval', '--data', join(data, 'cases.jsonl'), '--methods', 'none', '--quiet']],
  ['demo', () => ['demo']],
  ['demo --budget', () => ['demo', '--budget', '32']],
];
const fileCommands: [string, () => string[]][] = [
  ['calibrate', () => ['calibrate', '--model', 'models/testbed', '--images', join(data, 'images'), '--quiet']],
  ['testbed prior', () => ['testbed', 'prior', '--images', join(data, 'images'), '--quiet']],
  ['visualize', () => ['visualize', '--image', join(data, 'images', '000000.png'), '--prompt', 'where?', '--quiet']],
];

function expectOutError(args: string[], message: RegExp): void {
  const start = Date.now();
  const { code, stdout, stderr } = runCli(args);
  expect(stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
  expect(stderr, args.join(' ')).toMatch(message);
  expect(code, args.join(' ')).toBe(2);
  expect(stdout).toBe('');
  expect(Date.now() - start).toBeLessThan(30_000); // checked before any work (and no loop under /proc)
}

describe('--out problems exit 2 with one line naming --out, before any work', () => {
  it.each(folderCommands)('%s (an output folder)', (_, args) => {
    expectOutError([...args(), '--out', file], /^d2pruner: --out: exists and is not a folder/);
    expectOutError([...args(), '--out', join(file, 'sub')], /^d2pruner: --out: is under .*a-file\.txt, which is a file, not a folder/);
    expectOutError([...args(), '--out', join(dir, 'dangling')], /^d2pruner: --out: .*dangling is a dangling symbolic link/);
    expectOutError([...args(), '--out', '/proc/d2pruner-out/x'], /^d2pruner: --out: folder \/proc\/d2pruner-out cannot be created/);
    expectOutError([...args(), '--out', '/proc'], /^d2pruner: --out: folder \/proc is not writable/);
  }, 120_000);

  it.each(fileCommands)('%s (an output file)', (_, args) => {
    expectOutError([...args(), '--out', folder], /^d2pruner: --out: is a folder; give a file path/);
    expectOutError([...args(), '--out', join(file, 'prior.json')], /^d2pruner: --out: is under .*a-file\.txt, which is a file, not a folder/);
    expectOutError([...args(), '--out', join(dir, 'dangling')], /^d2pruner: --out: is a dangling symbolic link/);
    expectOutError([...args(), '--out', join(dir, 'missing', 'prior.json')], /^d2pruner: --out: its folder .*missing does not exist/);
    expectOutError([...args(), '--out', '/proc/prior.json'], /^d2pruner: --out: folder \/proc is not writable/);
    expect(readdirSync(folder)).toEqual([]);
  }, 120_000);
});
