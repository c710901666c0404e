/**
 * The shipped-model demo (`d2pruner testbed demo`, meant for `npm start`): one generated scene, one
 * grounding and one yes/no question, answered by the testbed VLM unpruned and with D2Pruner keeping 64 of
 * its 576 visual tokens at layer K, with the prefill time of each, and an overlay PNG of the kept tokens.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { parsePrior, type PositionalPrior } from '../importance/prior.js';
import { select } from '../select.js';
import { renderOverlay } from '../visualize/overlay.js';
import { generateScene, IMAGE_SIZE, answerToBox, iou } from './generate.js';
import { SplitDecoderModel } from './split-decoder.js';
import { chatPrompt } from '../adapters/transformers/prompt.js';

/** Options of {@link runTestbedDemo}. */
export interface TestbedDemoOptions {
  /** Model folder with the split export. */
  model: string;
  /** Folder for the scene and overlay PNGs (created). */
  out: string;
  /** Visual tokens kept by D2Pruner. Default 64. */
  budget?: number;
  /** Scene seed and index (seed 42 is used neither for training nor for the evaluation set). */
  seed?: number;
  index?: number;
  write?: (line: string) => void;
}

/** Runs the demo; resolves to the paths written. */
export async function runTestbedDemo(options: TestbedDemoOptions): Promise<{ scene: string; overlay: string }> {
  const write = options.write ?? ((line: string) => process.stdout.write(line + '\n'));
  const budget = options.budget ?? 64;
  const model = resolve(options.model);
  // The first scene from `index` on with at least four objects (so the grounding target has distractors).
  let index = options.index ?? 0;
  while (generateScene(options.seed ?? 42, index, 4).scene.objects.length < 4) index++;
  const { scene, cases } = generateScene(options.seed ?? 42, index, 4);
  const questions = [cases.find((c) => c.task === 'grounding')!, cases.find((c) => c.task === 'yesno')!];
  mkdirSync(options.out, { recursive: true });
  const png = await sharp(Buffer.from(scene.rgb), { raw: { width: IMAGE_SIZE, height: IMAGE_SIZE, channels: 3 } }).png().toBuffer();
  const scenePath = join(options.out, 'testbed-scene.png');
  writeFileSync(scenePath, png);

  const transformers: any = await import('@huggingface/transformers'); // eslint-disable-line @typescript-eslint/no-explicit-any
  transformers.env.allowRemoteModels = false;
  const processor = await transformers.AutoProcessor.from_pretrained(model);
  const split = await SplitDecoderModel.load(model);
  const priorPath = join(model, 'prior-attention.json');
  const prior: PositionalPrior | undefined = existsSync(priorPath) ? parsePrior(readFileSync(priorPath, 'utf8')) : undefined;
  const image = new transformers.RawImage(new Uint8ClampedArray(scene.rgb), IMAGE_SIZE, IMAGE_SIZE, 3);

  write(`Testbed VLM (${model}), scene ${scenePath}: ${scene.objects.map((o) => `${o.color} ${o.shape}`).join(', ')}`);
  write(`D2Pruner keeps ${budget} of 576 visual tokens at decoder layer ${split.config.splitLayer}${prior ? ' (debiased by the shipped prior)' : ''}.`);
  const panels: { label: string; keep: Int32Array; roles: Uint8Array }[] = [];
  // One untimed pass first: onnxruntime's first run of a session includes one-off set-up.
  for (const [pass, c] of [['warm-up', questions[0]!], ...questions.map((q) => ['timed', q] as const)] as const) {
    const text = chatPrompt(processor, 'llava', c.prompt).text;
    const inputs = await processor(image, text);
    const state = await split.prefill(inputs.input_ids.data, inputs.pixel_values);
    const full = await split.decode(state, { maxNewTokens: 6 });
    let roles: Uint8Array = new Uint8Array(0);
    const pruned = await split.decode(state, {
      maxNewTokens: 6,
      prune: ({ features, dims, importance, grid }) => {
        const selection = select(
          { features, dims, importance, prior: prior ? Float32Array.from(prior.values) : undefined, grid, budget },
          { method: 'd2pruner', alpha: c.task === 'grounding' ? 0.5 : 1 },
        );
        roles = selection.roles;
        return selection.keep;
      },
    });
    if (pass === 'warm-up') continue;
    const say = (tokens: number[]) => processor.tokenizer.decode(tokens, { skip_special_tokens: true });
    const verdict = (answer: string) => {
      if (c.task !== 'grounding') return answer === c.answer ? 'right' : 'wrong';
      const box = answerToBox(answer);
      const overlap = box ? iou(box, c.box!) : 0;
      return `${overlap >= 0.5 ? 'right' : 'wrong'}, IoU ${overlap.toFixed(2)}`;
    };
    write('');
    write(`Q: ${c.prompt}   (expected: ${c.answer}${c.box ? ` = box [${c.box.join(', ')}]` : ''})`);
    for (const [label, result] of [
      ['unpruned', full],
      [`d2pruner ${budget}`, pruned],
    ] as const) {
      const answer = say(result.tokens);
      const kept = result.keep ? result.keep.length : 576;
      write(`  ${label.padEnd(12)} ${answer.padEnd(18)} (${verdict(answer)})  visual tokens ${String(kept).padStart(3)}, prefill ${result.prefillMs.toFixed(1)} ms`);
    }
    const saved = full.prefillMs - pruned.prefillMs;
    write(`  time saved by pruning: ${saved.toFixed(1)} ms of prefill (${((100 * saved) / full.prefillMs).toFixed(0)}%)`);
    panels.push({ label: `${c.task}: d2pruner ${budget}`, keep: pruned.keep!, roles });
  }
  const overlay = await renderOverlay({
    image: png,
    tokens: 576,
    grid: { rows: 24, cols: 24 },
    panels,
    heatmaps: prior ? [{ label: 'positional prior', values: prior.values }] : [],
    title: 'kept visual tokens (pivots and diverse fill)',
  });
  const overlayPath = join(options.out, 'testbed-overlay.png');
  writeFileSync(overlayPath, overlay);
  write('');
  write(`wrote ${scenePath} and ${overlayPath}`);
  return { scene: scenePath, overlay: overlayPath };
}
