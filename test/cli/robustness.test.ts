import { spawnSync } from 'node:child_process';
import { closeSync, cpSync, mkdtempSync, openSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeDataset } from '../../src/testbed/dataset.js';
import { runCli } from './run-cli.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'd2pruner-robust-'));
const testbed = join(repo, 'models', 'testbed');
const data = join(dir, 'data');

function expectOneLine(result: { code: number | null; stderr: string }, message: RegExp): void {
  expect(result.stderr.trim().split('\n')).toHaveLength(1);
  expect(result.stderr).toMatch(message);
  expect(result.stderr).not.toMatch(/internal error|    at /);
  expect(result.code).toBe(2);
}

/** A copy of the shipped model with one file damaged. */
function damagedModel(name: string, damage: (folder: string) => void): string {
  const folder = join(dir, name);
  cpSync(testbed, folder, { recursive: true });
  damage(folder);
  return folder;
}

beforeAll(async () => {
  await writeDataset({ seed: 4, count: 4, out: data });
});

describe('corrupt model files exit 2 naming the file', () => {
  const damages: [string, (folder: string) => void, RegExp][] = [
    ['a truncated .onnx', (f) => truncateSync(join(f, 'onnx', 'decoder_model_merged.onnx'), 1000), /--model: onnx\/decoder_model_merged\.onnx is not a complete ONNX model \(truncated/],
    ['config.json holding null', (f) => writeFileSync(join(f, 'config.json'), 'null'), /--model: config\.json must hold a JSON object \(it holds null\)/],
    ['a truncated tokenizer.json', (f) => writeFileSync(join(f, 'tokenizer.json'), readFileSync(join(f, 'tokenizer.json'), 'utf8').slice(0, 500)), /--model: tokenizer\.json is not valid JSON/],
  ];
  it.each(damages)('%s', (name, damage, message) => {
    const model = damagedModel(name.replace(/\W+/g, '-'), damage);
    const out = join(dir, 'out');
    expectOneLine(runCli(['eval', '--data', join(data, 'cases.jsonl'), '--model', model, '--out', out, '--quiet']), message);
    expectOneLine(runCli(['calibrate', '--model', model, '--images', join(data, 'images'), '--out', join(dir, 'p.json'), '--quiet']), message);
    expectOneLine(runCli(['testbed', 'prior', '--model', model, '--images', join(data, 'images'), '--out', join(dir, 'p.json'), '--quiet']), message);
    expectOneLine(runCli(['generate', '--model', model, '--image', join(data, 'images', '000000.png'), '--prompt', 'what?']), message);
  }, 120_000);
});

describe('eval data sets', () => {
  it('names a corrupt image of the data set', () => {
    const broken = join(dir, 'broken');
    cpSync(data, broken, { recursive: true });
    writeFileSync(join(broken, 'images', '000001.png'), 'not a png');
    expectOneLine(
      runCli(['eval', '--data', join(broken, 'cases.jsonl'), '--methods', 'none', '--mode', 'input', '--out', join(dir, 'o1'), '--quiet']),
      /^d2pruner: --data: is not a readable image .*\(got "images\/000001\.png"\)/,
    );
  }, 60_000);
  it('refuses a case image path outside the data set folder', () => {
    const escaping = join(dir, 'escaping');
    cpSync(data, escaping, { recursive: true });
    const lines = readFileSync(join(escaping, 'cases.jsonl'), 'utf8').trim().split('\n');
    lines[0] = JSON.stringify({ ...JSON.parse(lines[0]!), image: '../../../etc/passwd' });
    writeFileSync(join(escaping, 'cases.jsonl'), lines.join('\n') + '\n');
    expectOneLine(
      runCli(['eval', '--data', join(escaping, 'cases.jsonl'), '--methods', 'none', '--mode', 'input', '--out', join(dir, 'o2'), '--quiet']),
      /^d2pruner: --data: case image paths must stay inside the data folder .* \(got "\.\.\/\.\.\/\.\.\/etc\/passwd"\)/,
    );
  }, 60_000);
});

describe('oversize inputs exit 2 naming the file or the flag', () => {
  it('a case file over 256 MiB, as a file and on standard input', () => {
    const big = join(dir, 'big.json');
    closeSync(openSync(big, 'w'));
    truncateSync(big, 300 * 1024 * 1024); // sparse: no disk space used
    expectOneLine(runCli(['select', big]), /^d2pruner: case file ".*big\.json" is larger than the 256 MiB limit$/m);
    const stdin = openSync(big, 'r');
    try {
      const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'select', '-'], { cwd: repo, stdio: [stdin, 'pipe', 'pipe'], encoding: 'utf8' });
      expectOneLine({ code: result.status, stderr: result.stderr }, /^d2pruner: case file on standard input is larger than the 256 MiB limit$/m);
    } finally {
      closeSync(stdin);
    }
  }, 60_000);
  it('bench select with more feature values than can be allocated', () => {
    expectOneLine(runCli(['bench', 'select', '--tokens', '100000', '--dim', '100000', '--budget', '64']), /^d2pruner: --tokens × --dim: is more than 268435456 feature values/);
  });
});

describe('standard output', () => {
  it('a write error other than a closed pipe is one line, no stack trace', () => {
    const full = openSync('/dev/full', 'w');
    try {
      const c = join(dir, 'c.json');
      writeFileSync(c, JSON.stringify({ tokens: 2, dim: 1, features: [1, 2], importance: [1, 2], budget: 1, method: 'fastv' }));
      const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'select', c], { cwd: repo, stdio: ['ignore', full, 'pipe'], encoding: 'utf8' });
      expectOneLine({ code: result.status, stderr: result.stderr }, /^d2pruner: cannot write to standard output \(ENOSPC\)$/m);
    } finally {
      closeSync(full);
    }
  });
});
