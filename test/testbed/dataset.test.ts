import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/core/errors.js';
import { writeDataset } from '../../src/testbed/dataset.js';
import { runCli } from '../cli/run-cli.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'd2pruner-dataset-'));

/** Entries beside `out` that a run left behind (temporary or swapped-out folders). */
function leftovers(parent: string): string[] {
  return readdirSync(parent).filter((name) => name.startsWith('.'));
}

function seedOf(out: string): number {
  return JSON.parse(readFileSync(join(out, 'meta.json'), 'utf8')).seed;
}

/** Starts `testbed generate` and resolves once its temporary folder holds some images. */
function startGenerate(parent: string, out: string, seed: number) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'testbed', 'generate', '--seed', String(seed), '--count', '20000', '--out', out, '--quiet'], {
    cwd: repo,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => child.on('exit', (code, signal) => done({ code, signal })));
  const started = new Promise<void>((done, fail) => {
    const timer = setInterval(() => {
      const tmp = readdirSync(parent).find((name) => name.includes('.tmp-'));
      if (tmp && existsSync(join(parent, tmp, 'images')) && readdirSync(join(parent, tmp, 'images')).length > 20) {
        clearInterval(timer);
        done();
      }
    }, 50);
    void exited.then(() => {
      clearInterval(timer);
      fail(new Error(`generate exited before writing: ${stderr}`));
    });
  });
  return { child, started, exited, stderr: () => stderr };
}

describe('testbed generate replaces a data set as a whole or not at all', () => {
  it('swaps a regenerated data set in whole, with nothing left beside it', async () => {
    const parent = join(root, 'swap');
    const out = join(parent, 'data');
    await writeDataset({ seed: 5, count: 6, out, raw: true });
    await writeDataset({ seed: 6, count: 4, out });
    expect(seedOf(out)).toBe(6);
    expect(readdirSync(join(out, 'images'))).toHaveLength(4);
    expect(existsSync(join(out, 'images.u8'))).toBe(false); // nothing of the seed-5 set survives
    expect(readFileSync(join(out, 'cases.jsonl'), 'utf8').trim().split('\n')).toHaveLength(4);
    expect(leftovers(parent)).toEqual([]);
  });

  it('leaves the old data set untouched and no temporary files when interrupted (SIGINT)', async () => {
    const parent = join(root, 'sigint');
    const out = join(parent, 'data');
    await writeDataset({ seed: 5, count: 8, out });
    const before = readFileSync(join(out, 'cases.jsonl'), 'utf8');
    const run = startGenerate(parent, out, 6);
    await run.started;
    run.child.kill('SIGINT');
    const { code } = await run.exited;
    expect(code).toBe(130);
    expect(run.stderr().trim().split('\n')).toEqual([`d2pruner: interrupted; ${out} was left as it was`]);
    expect(readFileSync(join(out, 'cases.jsonl'), 'utf8')).toBe(before);
    expect(readdirSync(join(out, 'images'))).toHaveLength(8);
    expect(seedOf(out)).toBe(5);
    expect(leftovers(parent)).toEqual([]);
    expect(leftovers(out)).toEqual([]);
  }, 60_000);

  it('removes the temporary folder of a killed run on the next run', async () => {
    const parent = join(root, 'sigkill');
    const out = join(parent, 'data');
    await writeDataset({ seed: 5, count: 8, out });
    const run = startGenerate(parent, out, 6);
    await run.started;
    run.child.kill('SIGKILL');
    expect((await run.exited).signal).toBe('SIGKILL');
    expect(seedOf(out)).toBe(5); // a kill cannot mix the two seeds either
    expect(leftovers(parent).filter((n) => n.includes('.tmp-'))).toHaveLength(1);
    await writeDataset({ seed: 7, count: 3, out });
    expect(seedOf(out)).toBe(7);
    expect(leftovers(parent)).toEqual([]);
  }, 60_000);

  it('refuses to replace a folder that does not hold a data set, and bad --out paths, before any work', async () => {
    const parent = join(root, 'refuse');
    const precious = join(parent, 'home');
    mkdirSync(precious, { recursive: true });
    writeFileSync(join(precious, 'notes.txt'), 'keep me');
    await expect(writeDataset({ seed: 1, count: 2, out: precious })).rejects.toThrow(ValidationError);
    expect(readdirSync(precious)).toEqual(['notes.txt']);
    expect(leftovers(parent)).toEqual([]);

    const file = join(parent, 'file.txt');
    writeFileSync(file, 'x');
    symlinkSync(join(parent, 'missing'), join(parent, 'dangling'));
    const cases: [string, RegExp][] = [
      [precious, /^d2pruner: --out: is a folder that does not hold a data set/],
      [file, /^d2pruner: --out: exists and is not a folder/],
      [join(file, 'sub'), /^d2pruner: --out: is under .*file\.txt, which is a file, not a folder/],
      [join(parent, 'dangling'), /^d2pruner: --out: is a symbolic link/],
      ['/proc/d2pruner-test/data', /^d2pruner: --out: folder \/proc\/d2pruner-test cannot be created/],
    ];
    for (const [path, message] of cases) {
      const { code, stderr } = runCli(['testbed', 'generate', '--count', '2', '--out', path, '--quiet']);
      expect(code, path).toBe(2);
      expect(stderr.trim().split('\n'), path).toHaveLength(1);
      expect(stderr, path).toMatch(message);
    }
  }, 60_000);
});
