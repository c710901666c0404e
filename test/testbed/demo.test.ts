/**
 * The main job (`npm start` = `d2pruner demo`): on the shipped testbed model it prints the scene, each
 * question's unpruned and pruned answers with their token counts and prefill times, the time saved, where the
 * pruned prefill went (from the report's timings), and writes the scene and overlay PNGs.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { runTestbedDemo } from '../../src/testbed/demo.js';
import { testbedModelDir } from '../../src/entries/node.js';

describe('the testbed demo (npm start)', () => {
  const out = mkdtempSync(join(tmpdir(), 'd2pruner-demo-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('answers two questions unpruned and pruned, with counts, times, the pruned prefill split and two PNGs', async () => {
    const lines: string[] = [];
    const written = await runTestbedDemo({ model: testbedModelDir(), out, budget: 64, write: (line) => lines.push(line) });
    const text = lines.join('\n');
    expect(lines[1]).toBe('D2Pruner keeps 64 of 576 visual tokens at decoder layer 2 (debiased by the shipped prior).');
    expect(text.match(/^Q: /gm)).toHaveLength(2);
    expect(text.match(/^ {2}unpruned .*visual tokens 576, prefill \d+\.\d ms$/gm)).toHaveLength(2);
    expect(text.match(/^ {2}d2pruner 64 .*visual tokens {2}64, prefill \d+\.\d ms$/gm)).toHaveLength(2);
    expect(text.match(/^ {2}time saved by pruning: -?\d+\.\d ms of prefill \(-?\d+%\)$/gm)).toHaveLength(2);
    const split = text.match(/^ {2}pruned prefill: layers 0–1 on all tokens (\d+\.\d) ms, layers 2\+ on the kept (\d+\.\d) ms, vision (\d+\.\d) ms, pruning's own work (\d+\.\d) ms$/gm);
    expect(split).toHaveLength(2);
    for (const line of split!) {
      const [prefix, suffix, vision, own] = line.match(/\d+\.\d/g)!.map(Number) as [number, number, number, number];
      expect(prefix).toBeGreaterThan(0);
      expect(suffix).toBeGreaterThan(0);
      expect(vision).toBeGreaterThan(0);
      expect(own).toBeGreaterThanOrEqual(0);
    }
    for (const path of [written.scene, written.overlay]) {
      expect(existsSync(path)).toBe(true);
      expect((await sharp(path).metadata()).format).toBe('png');
    }
    expect(lines.at(-1)).toBe(`wrote ${written.scene} and ${written.overlay}`);
  }, 120_000);
});
