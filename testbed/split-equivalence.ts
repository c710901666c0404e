/**
 * Equivalence of the automatic layer-2 split (withTokenPruning({ layer: 2 }) through src/onnx) with the
 * hand-split export (models/testbed/onnx/decoder_prefix.onnx + decoder_suffix.onnx, src/testbed/split-decoder.ts)
 * on held-out testbed cases: importance row, kept set and greedy answer per case, method and budget.
 *
 *   d2pruner testbed generate --seed 7 --count 120 --out /tmp/eval120
 *   npx tsx testbed/split-equivalence.ts /tmp/eval120
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AutoModelForImageTextToText, AutoProcessor, RawImage, env } from '@huggingface/transformers';
import { withTokenPruning } from '../src/adapters/transformers/index.js';
import { SplitDecoderModel } from '../src/testbed/split-decoder.js';
import { select } from '../src/select.js';
env.allowRemoteModels = false;
const data = process.argv[2]!; const TB = new URL('../models/testbed', import.meta.url).pathname;
const cases = readFileSync(join(data, 'cases.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const model = await AutoModelForImageTextToText.from_pretrained(TB, { dtype: 'fp32', device: 'cpu' });
const processor = await AutoProcessor.from_pretrained(TB);
const hand = await SplitDecoderModel.load(TB);
const budgets = [64, 32]; const methods = ['d2pruner', 'fastv'];
let worst = 0, sameKeep = 0, sameAnswer = 0, total = 0;
const t0 = performance.now();
for (const c of cases) {
  const image = await RawImage.read(join(data, c.image));
  const inputs = await processor(image, '<image>' + c.prompt);
  const state = await hand.prefill(inputs.input_ids.data, inputs.pixel_values);
  for (const method of methods) for (const budget of budgets) {
    const pruned = withTokenPruning(model, { method: method as any, budget, layer: 2, decoder: join(TB, 'onnx/decoder_model_merged.onnx') });
    const ids = await pruned.generate({ ...inputs, max_new_tokens: 8, do_sample: false });
    const r = pruned.lastPruning!;
    for (let i = 0; i < 576; i++) worst = Math.max(worst, Math.abs(r.images[0]!.importance[i]! - state.importance[i]!));
    const keep = select({ features: state.features, dims: [576, 128], importance: state.importance, grid: { rows: 24, cols: 24 }, budget }, { method } as any).keep;
    const hr = await hand.decode(state, { prune: () => keep, maxNewTokens: 8 });
    const L = inputs.input_ids.dims[1];
    const auto = Array.from((ids as any).data as BigInt64Array).slice(L).map(Number).filter((t) => t !== 2);
    total++;
    if (Array.from(keep).join() === Array.from(r.keep).join()) sameKeep++;
    if (auto.join() === hr.tokens.join()) sameAnswer++;
  }
}
console.log(JSON.stringify({ cases: cases.length, runs: total, worstImportanceDiff: worst, sameKeep, sameAnswer, seconds: ((performance.now() - t0) / 1000).toFixed(0) }));
