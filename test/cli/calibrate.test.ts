import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { parsePrior } from '../../src/importance/prior.js';
import { ensureFixtureModel } from '../fixtures/models.js';
import { runCli } from './run-cli.js';

async function imageFolder(count: number): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'd2pruner-calibrate-images-'));
  for (let i = 0; i < count; i++) {
    const pixels = Buffer.alloc(40 * 32 * 3).map((_, k) => (k * (i + 3) * 7) % 256);
    await sharp(pixels, { raw: { width: 40, height: 32, channels: 3 } }).png().toFile(join(dir, `scene-${i}.png`));
  }
  writeFileSync(join(dir, 'README.txt'), 'not an image');
  return dir;
}

describe('d2pruner calibrate', () => {
  it('writes the prior JSON (values, grid, provider, prompt, image count, model id) and a heat-map PNG', async () => {
    const model = ensureFixtureModel('llava');
    const images = await imageFolder(3);
    const outDir = mkdtempSync(join(tmpdir(), 'd2pruner-calibrate-out-'));
    const out = join(outDir, 'prior.json');
    const result = runCli(['calibrate', '--model', model, '--images', images, '--prompt', 'Describe the image.', '--out', out, '--limit', '2', '--layer', '0']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/calibrate: 2\/2/);
    const prior = parsePrior(readFileSync(out, 'utf8'));
    expect(prior).toMatchObject({ grid: { rows: 6, cols: 6 }, provider: 'promptRelevance', prompt: 'Describe the image.', imageCount: 2, modelId: model });
    expect(prior.values.length).toBe(36);
    const png = await sharp(join(outDir, 'prior.png')).metadata();
    expect([png.width, png.height]).toEqual([96, 96]);
    expect(readdirSync(outDir).sort()).toEqual(['prior.json', 'prior.png']);
  });

  it('--layer K averages the attention at layer K−1 of the automatically split decoder', async () => {
    const model = ensureFixtureModel('llava');
    const outDir = mkdtempSync(join(tmpdir(), 'd2pruner-calibrate-layer-'));
    const out = join(outDir, 'prior.json');
    const result = runCli(['calibrate', '--model', model, '--images', await imageFolder(2), '--out', out, '--layer', '1', '--quiet']);
    expect(result.code, result.stderr).toBe(0);
    const prior = parsePrior(readFileSync(out, 'utf8'));
    expect(prior).toMatchObject({ grid: { rows: 6, cols: 6 }, provider: 'attention@layer0', imageCount: 2 });
    expect(Math.min(...prior.values)).toBeGreaterThanOrEqual(0);
    const bad = runCli(['calibrate', '--model', model, '--images', await imageFolder(1), '--out', out, '--layer', '1', '--importance', 'attention']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--importance: applies to --layer 0 only/);
  });

  it('exits 2 with one line for a missing image folder or model, and leaves no output file', async () => {
    const outDir = mkdtempSync(join(tmpdir(), 'd2pruner-calibrate-bad-'));
    const out = join(outDir, 'prior.json');
    const noImages = runCli(['calibrate', '--model', ensureFixtureModel('llava'), '--images', join(outDir, 'none'), '--out', out]);
    expect(noImages.code).toBe(2);
    expect(noImages.stderr).toMatch(/--images: folder not found/);
    const noModel = runCli(['calibrate', '--model', join(outDir, 'none'), '--images', await imageFolder(1), '--out', out]);
    expect(noModel.code).toBe(2);
    expect(noModel.stderr).toMatch(/model: folder not found/);
    expect(existsSync(out)).toBe(false);
  });
});
