import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/cli/errors.js';
import { registerVisualize } from '../../src/cli/visualize.js';
import { ValidationError } from '../../src/core/errors.js';
import { ensureFixtureModel } from '../fixtures/models.js';

async function visualize(...args: string[]): Promise<void> {
  const program = new Command('d2pruner').exitOverride().configureOutput({ outputError: () => {} });
  registerVisualize(program);
  await program.parseAsync(['node', 'd2pruner', 'visualize', '--quiet', ...args]);
}

const dir = mkdtempSync(join(tmpdir(), 'd2pruner-visualize-'));
const image = join(dir, 'scene.png');
const tall = join(dir, 'tall.png');
const notImage = join(dir, 'broken.png');
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeAll(async () => {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="96" height="96"><rect width="96" height="96" fill="#e6e0d0"/>
    <rect x="10" y="12" width="20" height="20" fill="#d22"/><circle cx="70" cy="70" r="14" fill="#24c"/></svg>`;
  await sharp(Buffer.from(svg)).png().toFile(image);
  await sharp({ create: { width: 3, height: 2000, channels: 3, background: '#808080' } }).png().toFile(tall);
  writeFileSync(notImage, 'not an image');
});

describe('d2pruner visualize', () => {
  it('writes one panel per method without a model (image statistics), plus importance and prior panels', async () => {
    const out = join(dir, 'overlay.png');
    const prior = join(dir, 'prior.json');
    const values = Array.from({ length: 36 }, (_, i) => 1 + (i % 6));
    writeFileSync(prior, JSON.stringify({ values, grid: { rows: 6, cols: 6 }, provider: 'test', prompt: 'describe', imageCount: 1, modelId: 'none' }));
    await visualize('--image', image, '--prompt', 'where is the red square?', '--methods', 'd2pruner,fastv,divprune', '--budget', '16', '--grid', '12x12', '--width', '200', '--importance', '--prior', prior, '--out', out);
    const meta = await sharp(out).metadata();
    expect(meta.format).toBe('png');
    expect(meta.width).toBe(14 + 5 * (200 + 14)); // 3 methods + importance + prior
    expect(meta.height).toBe(14 + 30 + 48 + 200 + 14);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('runs the methods inside a transformers.js model with --model (at --layer 1 and at the input)', async () => {
    const model = ensureFixtureModel('llava');
    const out = join(dir, 'model.png');
    const prior = join(dir, 'model-prior.json');
    writeFileSync(prior, JSON.stringify({ values: Array.from({ length: 16 }, (_, i) => 1 + i), grid: { rows: 4, cols: 4 }, provider: 'test', prompt: 'describe', imageCount: 1, modelId: 'fixture' }));
    await visualize('--image', image, '--prompt', 'what is red?', '--model', model, '--methods', 'd2pruner,fastv', '--budget', '9', '--width', '160', '--prior', prior, '--out', out, '--layer', '1');
    const meta = await sharp(out).metadata();
    expect(meta.width).toBe(14 + 3 * (160 + 14)); // two methods and the prior, resized to the model's 6×6 grid
    const input = join(dir, 'model-input.png');
    await visualize('--image', image, '--prompt', 'what is red?', '--model', model, '--methods', 'fastv', '--budget', '9', '--width', '160', '--out', input, '--layer', '0');
    expect((await sharp(input).metadata()).width).toBe(14 + 160 + 14);
  });

  it('rejects bad input with one-line errors that exit 2, writing nothing', async () => {
    const out = join(dir, 'never.png');
    const cases: [string[], RegExp][] = [
      [['--prompt', 'x'], /--image is required/],
      [['--image', image], /--prompt is required/],
      [['--image', join(dir, 'missing.png'), '--prompt', 'x'], /^--image: file not found/],
      [['--image', image, '--prompt', 'x', '--methods', 'd2pruner,magic'], /^--methods: .*one of/],
      [['--image', image, '--prompt', 'x', '--budget', '0'], /^--budget: /],
      [['--image', image, '--prompt', 'x', '--budget', 'lots'], /^--budget: must be an integer ≥ 1 or a fraction/],
      [['--image', image, '--prompt', 'x', '--grid', '24'], /^--grid:/],
      [['--image', image, '--prompt', 'x', '--prior', join(dir, 'nope.json')], /^--prior: ".*nope.json" cannot be read \(ENOENT\)/],
      [['--image', image, '--prompt', 'x', '--model', dir], /^--model: is not a model folder/],
      [['--image', image, '--prompt', 'x', '--width', '10'], /^--width: must be an integer ≥ 64 \(got "10"\)/],
      [['--image', image, '--prompt', 'x', '--width', '5000'], /^--width: must be an integer in \[64, 4096\] \(got "5000"\)/],
      // A 3×2000 picture made a 1016×213439 overlay (29 s, 1.15 GB); it is refused before any work.
      [['--image', tall, '--prompt', 'x'], /^--image: has an aspect ratio of 666\.7:1; overlays draw images up to 10:1/],
      [['--image', notImage, '--prompt', 'x'], /^--image: cannot be read as an image/],
    ];
    for (const [args, message] of cases) {
      const error = await visualize(...args, '--out', out).then(() => null, (e: unknown) => e);
      expect(error instanceof ValidationError || error instanceof UsageError, args.join(' ')).toBe(true);
      expect((error as Error).message, args.join(' ')).toMatch(message);
    }
    expect(existsSync(out)).toBe(false);
  });
});
