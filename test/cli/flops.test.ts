import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { UsageError } from '../../src/cli/errors.js';
import { registerFlops } from '../../src/cli/flops.js';
import { ValidationError } from '../../src/core/errors.js';
import { decoderShapeFromConfig } from '../../src/flops.js';

/** Runs `d2pruner flops ARGS` in-process and returns what it printed on stdout. */
async function flops(...args: string[]): Promise<string> {
  const program = new Command('d2pruner').exitOverride().configureOutput({ outputError: () => {} });
  registerFlops(program);
  const chunks: string[] = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    chunks.push(String(chunk));
    return true;
  });
  try {
    await program.parseAsync(['node', 'd2pruner', 'flops', ...args]);
  } finally {
    spy.mockRestore();
  }
  return chunks.join('');
}

const dir = mkdtempSync(join(tmpdir(), 'd2pruner-flops-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('d2pruner flops', () => {
  it('prints before, after and the reduction for a preset', async () => {
    const text = await flops('--model', 'llava-1.5-7b', '--budget', '128');
    expect(text).toContain('before     2.99 TFLOPs');
    expect(text).toContain('after      794.64 GFLOPs');
    expect(text).toContain('reduction  73.4%');
  });

  it('prints one JSON object with reduction, before and after', async () => {
    const json = JSON.parse(await flops('--model', 'llava-1.5-7b', '--budget', '64', '--json'));
    expect(json.reduction).toBeCloseTo(0.836, 3);
    expect(json.before).toBe(2_986_076_012_544);
    expect(json).toMatchObject({ visualTokens: 576, keptTokens: 64, layer: 2, textTokens: 0, variant: 'convention' });
  });

  it('reads any config.json, with --visual-tokens, --layer, --text-tokens and --exact', async () => {
    const path = join(dir, 'config.json');
    writeFileSync(path, JSON.stringify({ text_config: { hidden_size: 896, intermediate_size: 4864, num_hidden_layers: 24, num_attention_heads: 14, num_key_value_heads: 2, hidden_act: 'silu' } }));
    const json = JSON.parse(await flops('--config', path, '--budget', '0.25', '--visual-tokens', '576', '--layer', '0', '--text-tokens', '40', '--exact', '--json'));
    expect(json).toMatchObject({ visualTokens: 576, keptTokens: 144, layer: 0, textTokens: 40, variant: 'exact' });
    expect(json.shape).toMatchObject({ hiddenSize: 896, kvHeads: 2, gatedMlp: true });
  });

  it('uses the visual-token count a config states', async () => {
    const path = join(dir, 'smol.json');
    writeFileSync(path, JSON.stringify({ image_seq_len: 64, text_config: { hidden_size: 576, intermediate_size: 1536, num_hidden_layers: 30, num_attention_heads: 9, num_key_value_heads: 3 } }));
    expect(JSON.parse(await flops('--config', path, '--budget', '16', '--json')).visualTokens).toBe(64);
  });

  it('lists the presets', async () => {
    const text = await flops('--list');
    for (const name of ['llava-1.5-7b', 'llava-next-7b', 'qwen2.5-vl-7b', 'internvl2.5-8b', 'smolvlm-256m', 'fastvlm-0.5b', 'testbed']) {
      expect(text).toContain(name);
    }
  });

  it('rejects bad input with errors that exit 2 (ValidationError or UsageError)', async () => {
    const missing = join(dir, 'nope.json');
    const notJson = join(dir, 'bad.json');
    writeFileSync(notJson, '{ nope');
    const noTokens = join(dir, 'no-tokens.json');
    writeFileSync(noTokens, JSON.stringify({ hidden_size: 64, num_hidden_layers: 2, num_attention_heads: 4 }));
    const cases: [string[], RegExp][] = [
      [['--model', 'gpt-9', '--budget', '64'], /^--model: unknown preset/],
      [['--model', 'llava-1.5-7b', '--budget', '600'], /^--budget: must be an integer in \[1, 576\]/],
      [['--model', 'llava-1.5-7b', '--budget', '64x'], /^--budget: must be a number/],
      [['--model', 'llava-1.5-7b', '--budget', '64', '--layer', '33'], /^--layer:/],
      [['--model', 'llava-1.5-7b', '--budget', '64', '--text-tokens', '-3'], /^--text-tokens:/],
      [['--model', 'llava-1.5-7b'], /--budget is required/],
      [['--budget', '64'], /give --model/],
      [['--model', 'llava-1.5-7b', '--config', notJson, '--budget', '64'], /not both/],
      [['--config', missing, '--budget', '64'], /^--config: file not found/],
      [['--config', notJson, '--budget', '64'], /^--config: is not valid JSON/],
      [['--config', noTokens, '--budget', '64'], /give --visual-tokens/],
    ];
    for (const [args, message] of cases) {
      const error = await flops(...args).then(() => null, (e: unknown) => e);
      expect(error instanceof ValidationError || error instanceof UsageError, args.join(' ')).toBe(true);
      expect((error as Error).message, args.join(' ')).toMatch(message);
    }
  });

  const testbedConfig = resolve(dirname(fileURLToPath(import.meta.url)), '../../models/testbed/config.json');
  it('reads the shipped testbed model for --model testbed (part of the repository: fails, never skips, when missing)', async () => {
    const json = JSON.parse(await flops('--model', 'testbed', '--budget', '64', '--json'));
    expect(json.shape).toEqual(decoderShapeFromConfig(JSON.parse(readFileSync(testbedConfig, 'utf8'))));
    expect(json.keptTokens).toBe(64);
    expect(json.reduction).toBeGreaterThan(0);
  });
});
