/**
 * Where does prompt relevance (the adapters' default importance at the decoder input) point in the shipped testbed
 * model? Mean relevance on the patches of the object a question names, on other objects and on the background,
 * over the first N cases of the evaluation set (`testbed/data/eval`, from `d2pruner testbed generate --seed 7`).
 * Offline analysis: npx tsx testbed/relevance-check.ts [N]
 */
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { promptRelevance } from '../src/importance/promptRelevance.js';
const dir = 'testbed/data/eval';
const model = 'models/testbed/onnx';
const vocab: Record<string, number> = JSON.parse(readFileSync('models/testbed/tokenizer.json', 'utf8')).model.vocab;
const opts = { intraOpNumThreads: 1, interOpNumThreads: 1 } as any;
const vision = await ort.InferenceSession.create(`${model}/vision_encoder.onnx`, opts);
const embed = await ort.InferenceSession.create(`${model}/embed_tokens.onnx`, opts);
const cases = readFileSync(`${dir}/cases.jsonl`, 'utf8').trim().split('\n').map((l: string) => JSON.parse(l));
const labels = readFileSync(`${dir}/labels.u8`);
const stats = { named: [0, 0], otherObj: [0, 0], background: [0, 0], namedRank: [] as number[] };
const N = Number(process.argv[2] ?? 200);
for (let i = 0; i < N; i++) {
  const c = cases[i];
  const raw = await sharp(`${dir}/${c.image}`).removeAlpha().raw().toBuffer();
  const px = new Float32Array(3 * 192 * 192);
  for (let p = 0; p < 192 * 192; p++) for (let ch = 0; ch < 3; ch++) px[ch * 192 * 192 + p] = (raw[p * 3 + ch]! / 255 - 0.5) / 0.5;
  const feats = (await vision.run({ pixel_values: new ort.Tensor('float32', px, [1, 3, 192, 192]) })).image_features!;
  const words = c.prompt.match(/\w+|[^\w\s]+/g) as string[];
  const ids = BigInt64Array.from(words.map((w) => BigInt(vocab[w] ?? 3)));
  const emb = (await embed.run({ input_ids: new ort.Tensor('int64', ids, [1, ids.length]) })).inputs_embeds!;
  const d = feats.dims[2]!;
  const rel = promptRelevance({ features: feats.data as Float32Array, dims: [576, d], textEmbeddings: emb.data as Float32Array, textDims: [ids.length, d] });
  const color = ['red', 'green', 'blue', 'yellow', 'purple', 'orange'].findIndex((k) => words.includes(k)) + 1;
  const shape = ['circle', 'square', 'triangle'].findIndex((k) => words.includes(k) || words.includes(k + 's')) + 1;
  const order = Array.from(rel.keys()).sort((a, b) => rel[b]! - rel[a]!);
  const rank = new Int32Array(576);
  order.forEach((t, r) => (rank[t] = r));
  for (let t = 0; t < 576; t++) {
    const o = (i * 576 + t) * 8;
    const s = labels[o]!, col = labels[o + 1]!;
    const key = s === 0 ? 'background' : s === shape && (color === 0 || col === color) ? 'named' : 'otherObj';
    (stats as any)[key][0] += rel[t]!;
    (stats as any)[key][1] += 1;
    if (key === 'named') stats.namedRank.push(rank[t]! / 575);
  }
}
const mean = (k: 'named' | 'otherObj' | 'background') => (stats[k][0] / stats[k][1]).toFixed(4);
console.log(`${N} eval cases: mean prompt relevance on the named object's patches ${mean('named')}, other objects ${mean('otherObj')}, background ${mean('background')}`);
console.log(`mean relevance rank of the named object's patches: ${(stats.namedRank.reduce((a, b) => a + b, 0) / stats.namedRank.length).toFixed(3)} (0 = most relevant, 1 = least)`);
