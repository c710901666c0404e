/**
 * Where does prompt relevance (the adapters' default importance at the decoder input) point in the shipped testbed
 * model? Mean relevance on the patches of the object a question names, on other objects and on the background,
 * over the first N cases of the evaluation set (`testbed/data/eval`, from `d2pruner testbed generate --seed 7`).
 * The relevance is the one `d2pruner eval --mode input` uses: recorded from withTokenPruning's importance hook
 * on the same processor inputs. Offline analysis: npx tsx testbed/relevance-check.ts [N]
 */
import { readFileSync } from 'node:fs';
import { loadVisionLanguageModel, promptInputs, readImage } from '../src/adapters/transformers/load.js';
import { withTokenPruning } from '../src/adapters/transformers/index.js';
import { promptRelevance } from '../src/importance/promptRelevance.js';
import { COLOR_NAMES, SHAPES, LABEL_BYTES } from '../src/testbed/generate.js';
import { parseCases } from '../src/eval/score.js';

const dir = 'testbed/data/eval';
const count = Number(process.argv[2] ?? 200);
const loaded = await loadVisionLanguageModel('models/testbed');
let relevance: Float32Array = new Float32Array(0);
const recording = withTokenPruning(loaded.model, {
  method: 'uniform',
  budget: 1,
  tokenizer: loaded.processor,
  importance: (ctx) => (relevance = promptRelevance(ctx)),
});
const cases = parseCases(readFileSync(`${dir}/cases.jsonl`, 'utf8')).slice(0, count);
const labels = readFileSync(`${dir}/labels.u8`);
const sums = { named: [0, 0], otherObjects: [0, 0], background: [0, 0] };
let rankSum = 0;
for (const [i, c] of cases.entries()) {
  const image = await readImage(loaded.transformers, `${dir}/${c.image}`);
  await recording.generate({ ...(await promptInputs(loaded, image, c.prompt)), max_new_tokens: 1, do_sample: false });
  const words = c.prompt.split(/\W+/);
  const color = COLOR_NAMES.findIndex((k) => words.includes(k)) + 1; // 0: the question names no colour
  const shape = SHAPES.findIndex((k) => words.includes(k) || words.includes(`${k}s`)) + 1;
  const order = Array.from(relevance.keys()).sort((a, b) => relevance[b]! - relevance[a]!);
  const rank = new Int32Array(relevance.length);
  order.forEach((token, r) => (rank[token] = r));
  for (let t = 0; t < relevance.length; t++) {
    const o = (i * relevance.length + t) * LABEL_BYTES;
    const key = labels[o] === 0 ? 'background' : labels[o] === shape && (color === 0 || labels[o + 1] === color) ? 'named' : 'otherObjects';
    sums[key][0] += relevance[t]!;
    sums[key][1]++;
    if (key === 'named') rankSum += rank[t]! / (relevance.length - 1);
  }
}
const mean = (key: keyof typeof sums) => (sums[key][0] / sums[key][1]).toFixed(4);
console.log(`${cases.length} eval cases: mean prompt relevance on the named object's patches ${mean('named')}, other objects ${mean('otherObjects')}, background ${mean('background')}`);
console.log(`mean relevance rank of the named object's patches: ${(rankSum / sums.named[1]).toFixed(3)} (0 = most relevant, 1 = least)`);
