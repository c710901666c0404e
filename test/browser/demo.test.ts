/**
 * The browser demo in real Chromium (Debian's /usr/bin/chromium, driven by playwright-core; never a browser
 * download): load the page, wait for the model, ask one question at budget 64 and check that answers, the
 * overlay and the token counts appear, that nothing was fetched from outside this machine, and save a
 * screenshot. The answers are checked: the unpruned one against the scene's expected answer, the pruned one
 * against the same pruning run in Node. Skipped, with a message, when Chromium is not installed
 * (`apt-get install chromium`); fails when models/testbed is missing (it is part of the repository).
 * The screenshot goes to test/browser/.out/demo.png (ignored); `npm run docs:screenshot` sets
 * D2PRUNER_SCREENSHOT=docs/images/demo.png to refresh the README's picture on purpose.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTokenPruning } from '../../src/adapters/transformers/index.js';
import { loadVisionLanguageModel, promptInputs } from '../../src/adapters/transformers/load.js';
import { scoreAnswer } from '../../src/eval/score.js';
import { generateScene, IMAGE_SIZE } from '../../src/testbed/generate.js';
import { askOnce, CHROMIUM, REPO as repo, startDemo, waitReady, type DemoSession } from './demo-page.js';

/** The page's two answers computed in Node (onnxruntime-node) on the same scene, prompt, budget and layer. */
async function nodeAnswers(prompt: string, budget: number, layer: number): Promise<{ full: string; pruned: string }> {
  const loaded = await loadVisionLanguageModel(join(repo, 'models/testbed'));
  const { RawImage } = loaded.transformers;
  const image = new RawImage(generateScene(7, 3, 1).scene.rgb, IMAGE_SIZE, IMAGE_SIZE, 3);
  const inputs = await promptInputs(loaded, image, prompt);
  const decode = async (target: any) => {
    const output = await target.generate({ ...inputs, max_new_tokens: 20, do_sample: false });
    return loaded.processor.batch_decode(output.slice(null, [inputs.input_ids.dims[1], null]), { skip_special_tokens: true })[0].trim();
  };
  return { full: await decode(loaded.model), pruned: await decode(withTokenPruning(loaded.model, { method: 'd2pruner', budget, tokenizer: loaded.processor, layer, decoder: join(repo, 'models/testbed/onnx/decoder_model_merged.onnx') })) };
}

const available = existsSync(CHROMIUM);
// Never a tracked file unless asked for by name: running the tests leaves the checkout as it was.
const screenshot = resolve(repo, process.env.D2PRUNER_SCREENSHOT ?? 'test/browser/.out/demo.png');

if (!available) {
  console.warn(`Skipping the browser demo test: no Chromium at ${CHROMIUM}. Install it with \`sudo apt-get install chromium\` (or set CHROMIUM_PATH).`);
}

describe.skipIf(!available)('browser demo (Chromium)', () => {
  let demo: DemoSession;

  beforeAll(async () => {
    // The shipped model is part of the repository: its absence is a failure, not a reason to test a fixture.
    if (!process.env.D2PRUNER_DEMO_MODEL) expect(existsSync(join(repo, 'models/testbed/config.json')), 'models/testbed is missing').toBe(true);
    demo = await startDemo();
  }, 180_000);

  afterAll(async () => {
    await demo?.close();
  });

  it('answers one question pruned and unpruned at budget 64, with overlay and counts', async () => {
    const page = await demo.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(demo.url);
    await waitReady(page);

    const max = Number(await page.getAttribute('#budget', 'max'));
    // Budget 64 on the testbed model (576 tokens); the tiny fallback fixture has only 36, so a quarter of it.
    const budget = max >= 128 ? 64 : Math.max(1, Math.round(max / 4));
    await askOnce(page, { method: 'd2pruner', budget });

    expect((await page.textContent('#answer-full'))!.length).toBeGreaterThan(0);
    expect((await page.textContent('#answer-pruned'))!.length).toBeGreaterThan(0);
    // The pruned path ran inside the decoder, through the split the page made of decoder_model_merged.onnx:
    // at layer 2 on the testbed model (layer 1 on the two-layer fallback fixture).
    const testbed = max === 576;
    const pruning = await page.evaluate(() => (window as any).__demo.lastPruning);
    expect(pruning).toMatchObject({ layer: testbed ? 2 : 1, importance: 'attention' });
    expect(await page.textContent('#layer-pruned')).toContain(`layer ${pruning.layer}`);
    // Where the pruned answer's time went, as bench:e2e splits it: consistent parts, shown in the page, and
    // printed (the README's browser row comes from `npm run bench:browser`, several runs, not from here).
    const b = pruning.breakdown;
    expect(pruning.timings.reused).toBe(false);
    expect(b.overheadMs).toBeCloseTo(b.ttftMs - b.visionMs - b.decoderMs, 6);
    for (const key of ['visionMs', 'decoderMs', 'importanceMs', 'selectMs', 'mergeGatherMs', 'textEmbedMs']) expect(b[key]).toBeGreaterThanOrEqual(0);
    expect(b.decoderMs).toBeGreaterThan(pruning.timings.scoringDecoderMs); // layers < K, then the suffix
    expect(b.importanceMs + b.selectMs + b.mergeGatherMs + b.textEmbedMs).toBeLessThanOrEqual(b.overheadMs + 1);
    expect(await page.textContent('#overhead-pruned')).toMatch(/^\d+ ms, \d+\.\d% of TTFT$/);
    console.log(`browser breakdown (one run): ${JSON.stringify(Object.fromEntries(Object.entries(b).map(([k, v]) => [k, Number((v as number).toFixed(k === 'share' ? 4 : 1))])))}`);
    // The testbed model answers this scene's grounding question right, unpruned and pruned at layer 2.
    if (testbed) expect(await page.evaluate(() => (window as any).__demo.last.right)).toEqual({ full: true, pruned: true });
    // The answers themselves: the page shows scene 3 of seed 7 and asks its grounding question.
    const last = await page.evaluate(() => (window as any).__demo.last);
    const expected = { image: 'scene', ...generateScene(7, 3, 1).cases[0]! };
    expect(last.expected).toBe(expected.answer);
    if (!process.env.D2PRUNER_DEMO_MODEL) {
      expect(scoreAnswer(expected, last.full.text), `unpruned answer ${last.full.text} vs ${expected.answer}`).toBe(true);
      const node = await nodeAnswers(expected.prompt, budget, pruning.layer);
      expect(last.full.text).toBe(node.full);
      expect(scoreAnswer(expected, last.pruned.text)).toBe(scoreAnswer(expected, node.pruned));
    }
    expect(await page.textContent('#tokens-full')).toBe(String(max));
    expect(await page.textContent('#tokens-pruned')).toBe(`${max} → ${budget}`);
    expect(await page.textContent('#ttft-pruned')).toMatch(/^\d+ ms$/);
    expect(await page.textContent('#legend')).toContain(`${budget}/${max} visual tokens kept`);

    // The overlay: dimmed pixels, and outline pixels in the pivot (orange) and MIS (cyan) colours.
    const pixels = await page.$eval('#overlay', (canvas) => {
      const c = canvas as HTMLCanvasElement;
      const data = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let orange = 0;
      let cyan = 0;
      for (let i = 0; i < data.length; i += 4) {
        if (data[i]! > 230 && data[i + 1]! > 110 && data[i + 1]! < 170 && data[i + 2]! < 40) orange++;
        if (data[i]! < 40 && data[i + 1]! > 180 && data[i + 2]! > 230) cyan++;
      }
      return { width: c.width, orange, cyan };
    });
    expect(pixels.width).toBe(384);
    expect(pixels.orange).toBeGreaterThan(100);
    expect(pixels.cyan).toBeGreaterThan(20);

    expect(demo.external).toEqual([]);
    expect(errors).toEqual([]);
    mkdirSync(dirname(screenshot), { recursive: true });
    await page.screenshot({ path: screenshot, fullPage: true });
  }, 300_000);
});
