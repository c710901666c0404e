import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureFixtureModel } from '../fixtures/models.js';
import { pngImage } from '../adapters/transformers/helpers.js';
import { runCli } from './run-cli.js';

let model: string;
let image: string;

beforeAll(async () => {
  model = ensureFixtureModel('llava');
  image = (await pngImage(21, 64, 48)).path;
});

describe('d2pruner generate', () => {
  it('prints the answer, tokens before → after and timings, and a JSON summary as the last line', () => {
    const result = runCli(['generate', '--model', model, '--image', image, '--prompt', 'Where is the red circle?', '--budget', '9', '--max-new-tokens', '4', '--layer', '0', '--json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/visual tokens: 36 → 9 \(d2pruner, original positions\)/);
    expect(result.stdout).toMatch(/selection: [\d.]+ ms, prefill: [\d.]+ ms/);
    const summary = JSON.parse(result.stdout.trim().split('\n').at(-1)!);
    expect(summary).toMatchObject({ visualTokens: { before: 36, after: 9 }, newTokens: 4, method: 'd2pruner', modelType: 'llava' });
    expect(typeof summary.text).toBe('string');
    expect(summary.prefillMs).toBeGreaterThan(0);
    expect(summary.selectMs).toBeGreaterThan(0);
    expect(summary.sequence.after).toBe(summary.sequence.before - 27);
    // Where the prefill went: the report's timings, and the overhead line built from them.
    expect(summary.timings).toMatchObject({ reused: false, scoringDecoderMs: 0, selectMs: summary.selectMs });
    expect(summary.timings.decoderMs).toBeGreaterThan(0);
    const overhead = result.stdout.match(/^overhead: (-?[\d.]+) ms of the prefill besides vision ([\d.]+) ms and decoder ([\d.]+) ms/m);
    expect(overhead).not.toBeNull();
    expect(Number(overhead![1])).toBeCloseTo(summary.prefillMs - summary.timings.visionMs - summary.timings.decoderMs, 0);
  });

  it('runs unpruned with --method none, and a fraction budget with compact positions', () => {
    const none = runCli(['generate', '--model', model, '--image', image, '--prompt', 'Hi', '--method', 'none', '--max-new-tokens', '2', '--layer', '0', '--json']);
    expect(none.code).toBe(0);
    expect(JSON.parse(none.stdout.trim().split('\n').at(-1)!).visualTokens).toEqual({ before: 36, after: 36 });
    const half = runCli(['generate', '--model', model, '--image', image, '--prompt', 'Hi', '--budget', '0.5', '--positions', 'compact', '--max-new-tokens', '2', '--layer', '0', '--json']);
    expect(half.code).toBe(0);
    expect(JSON.parse(half.stdout.trim().split('\n').at(-1)!)).toMatchObject({ visualTokens: { before: 36, after: 18 }, positions: 'compact' });
  });

  it('prunes inside the decoder at layer 2 by default (the shipped testbed model), and at --layer 1 on a 2-layer fixture', () => {
    const testbed = runCli(['generate', '--image', image, '--prompt', 'is there a red circle?', '--budget', '64', '--max-new-tokens', '2', '--json']);
    expect(testbed.stderr).toBe('');
    expect(testbed.code).toBe(0);
    expect(testbed.stdout).toMatch(/visual tokens: 576 → 64 \(d2pruner, at layer 2\)/);
    expect(JSON.parse(testbed.stdout.trim().split('\n').at(-1)!)).toMatchObject({ layer: 2, visualTokens: { before: 576, after: 64 } });
    const fixture = runCli(['generate', '--model', model, '--image', image, '--prompt', 'Hi', '--budget', '9', '--layer', '1', '--max-new-tokens', '2', '--json']);
    expect(fixture.code).toBe(0);
    expect(JSON.parse(fixture.stdout.trim().split('\n').at(-1)!)).toMatchObject({ layer: 1, visualTokens: { before: 36, after: 9 } });
    const cases: [string[], RegExp][] = [
      [['--model', model, '--budget', '9'], /^--layer: must be an integer in \[1, 1\]/],
      [['--model', model, '--layer', 'two'], /^--layer: must be an integer ≥ 0/],
      [['--model', model, '--layer', '1', '--importance', 'attention'], /^--importance: applies to --layer 0 only/],
      [['--model', model, '--layer', '1', '--positions', 'compact'], /^--positions: applies to --layer 0 only/],
    ];
    for (const [args, message] of cases) {
      const result = runCli(['generate', '--image', image, '--prompt', 'x', '--max-new-tokens', '1', ...args]);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr.replace(/^d2pruner: /, '')).toMatch(message);
    }
  }, 240_000); // six CLI runs

  it('exits 2 with one line for a missing model folder, an unreadable image, an unsupported model type, bad flags', () => {
    const dir = mkdtempSync(join(tmpdir(), 'd2pruner-generate-'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'bert' }));
    const notImage = join(dir, 'notes.png');
    writeFileSync(notImage, 'not a picture');
    const cases: [string[], RegExp][] = [
      [['--model', join(dir, 'missing'), '--image', image], /model: folder not found/],
      [['--model', model, '--image', notImage], /--image: is not a readable image/],
      [['--model', model, '--image', join(dir, 'nope.png')], /--image: file not found/],
      [['--model', dir, '--image', image], /model type "bert" has no pruning adapter; supported: llava, .*smolvlm/],
      [['--model', model, '--image', image, '--budget', '0'], /--budget/],
      [['--model', model, '--image', image, '--budget', '37'], /budget.*\[1, 36\]/],
      [['--model', model, '--image', image, '--method', 'magic'], /--method.*none/],
      [['--model', model, '--image', image, '--importance', 'attention'], /importance.*exports the last prompt token's attention/],
    ];
    for (const [args, message] of cases) {
      const result = runCli(['generate', '--prompt', 'x', '--layer', '0', ...args]);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(message);
    }
  });
});
