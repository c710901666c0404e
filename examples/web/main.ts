/**
 * The browser demo: a transformers.js VLM on onnxruntime-web (wasm, files served by this page), asked one
 * question twice — unpruned, and with `withTokenPruning` at the chosen method, budget and layer — with the
 * answers, visual-token counts, times and the overlay of kept tokens side by side. Pruning inside the decoder
 * (layer K, the paper's setting; layer 2 by default where the model has more than two layers) splits the
 * stock `decoder_model_merged.onnx` in the page: its bytes are fetched once and given to the wrapper as
 * `decoder`, which cuts the graph at layer K and creates the prefix and suffix sessions with onnxruntime-web.
 * Testbed scenes are generated in the page (`d2pruner/testbed`), so their questions come with the expected
 * answers, and grounding answers are drawn as boxes next to the expected box.
 */
import { AutoModelForImageTextToText, AutoProcessor, RawImage, env } from '@huggingface/transformers';
import { methodNames, type MethodName } from 'd2pruner';
import { chatInputs, firstTokenBreakdown, overlayStyle, processorGeometry, tileRegions, withTokenPruning, type PruningReport } from 'd2pruner/transformers';
import { answerToBox, generateScene, IMAGE_SIZE, iou, type Case } from 'd2pruner/testbed';
import { drawAnswerBoxes, drawOverlay, type AnswerBox } from './overlay.js';

// Everything local: no hub, no CDN. ORT's wasm files are served under /ort/ by vite.config.ts.
env.allowRemoteModels = false;
env.allowLocalModels = true;
env.localModelPath = '/models/';
env.useBrowserCache = false;
const onnxEnv = env.backends.onnx as { wasm: { wasmPaths?: unknown; numThreads?: number; proxy?: boolean } };
onnxEnv.wasm.wasmPaths = { mjs: '/ort/ort-wasm-simd-threaded.asyncify.mjs', wasm: '/ort/ort-wasm-simd-threaded.asyncify.wasm' };
onnxEnv.wasm.numThreads = 1; // no cross-origin isolation needed
onnxEnv.wasm.proxy = false;

const MODEL_ID = 'demo';
const MAX_NEW_TOKENS = 20;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const status = $<HTMLParagraphElement>('status');
const runButton = $<HTMLButtonElement>('run');
const budget = $<HTMLInputElement>('budget');
const budgetValue = $<HTMLOutputElement>('budget-value');
const methodSelect = $<HTMLSelectElement>('method');
const layerSelect = $<HTMLSelectElement>('layer');
const question = $<HTMLInputElement>('question');
const preview = $<HTMLImageElement>('preview');

/* eslint-disable @typescript-eslint/no-explicit-any -- transformers.js models and processors are untyped */
let model: any;
let processor: any;
let config: any;
let image: { raw: RawImage; element: HTMLImageElement } | null = null;
let tokensPerImage = 0;
/** The decoder's ModelProto, split in the page for layer-K pruning. */
let decoderBytes: Uint8Array | null = null;
/** Questions (with answers) about the testbed scene on show; empty for a user's own image. */
let sceneCases: Omit<Case, 'image'>[] = [];
/** The scene on show: the sample of docs/images/testbed-scene.png is held-out evaluation scene 3 of seed 7. */
let scene = { seed: 7, index: 3, questions: 1 };

/** State for the browser test and for people poking at the console. */
const demo = ((window as any).__demo = { ready: false, runs: 0, last: null as unknown, lastPruning: null as unknown, error: null as string | null });

for (const name of methodNames) methodSelect.add(new Option(name, name, name === 'd2pruner', name === 'd2pruner'));
budget.addEventListener('input', () => (budgetValue.value = `${budget.value} / ${tokensPerImage || '?'}`));
runButton.addEventListener('click', () => void run());
question.addEventListener('input', showExpected);
$<HTMLButtonElement>('next-scene').addEventListener('click', () => {
  // Further scenes come from the demo seed (42: neither training nor evaluation data), four questions each.
  scene = scene.seed === 42 ? { ...scene, index: scene.index + 1 } : { seed: 42, index: 0, questions: 4 };
  void showScene().catch(fail);
});

/** Renders the current testbed scene in the page and makes it the image. */
async function showScene(): Promise<void> {
  const generated = generateScene(scene.seed, scene.index, scene.questions);
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = IMAGE_SIZE;
  const pixels = new ImageData(IMAGE_SIZE, IMAGE_SIZE);
  for (let p = 0; p < IMAGE_SIZE * IMAGE_SIZE; p++) {
    pixels.data.set(generated.scene.rgb.subarray(3 * p, 3 * p + 3), 4 * p);
    pixels.data[4 * p + 3] = 255;
  }
  canvas.getContext('2d')!.putImageData(pixels, 0, 0);
  const blob = await new Promise<Blob>((done) => canvas.toBlob((b) => done(b!), 'image/png'));
  await useImage(blob, generated.cases);
  const grounding = generated.cases.find((c) => c.task === 'grounding') ?? generated.cases[0]!;
  question.value = grounding.prompt;
  showExpected();
}

/** The expected answer of the question typed, when it is one of the scene's questions. */
function expectedCase(): Omit<Case, 'image'> | undefined {
  return sceneCases.find((c) => c.prompt === question.value.trim());
}

function showExpected(): void {
  const expected = expectedCase();
  $('expected').textContent = expected ? `expected: ${expected.answer}` : sceneCases.length ? 'not one of this scene’s questions: no expected answer' : '';
}

/** Layers the decoder can be pruned before: 0 (its input) and 1 … layers − 1. */
function fillLayers(): void {
  const layers = Number(config.text_config?.num_hidden_layers ?? config.num_hidden_layers ?? 0);
  // The paper's K = 2 (the testbed's own split layer), or the deepest there is on a shallower decoder.
  const preferred = Math.min(Number(config.d2pruner?.split_layer ?? 2), layers - 1);
  layerSelect.add(new Option('decoder input (prompt relevance)', '0', preferred < 1, preferred < 1));
  for (let k = 1; k < layers; k++) layerSelect.add(new Option(`layer ${k} (attention at layer ${k - 1})`, String(k), k === preferred, k === preferred));
}

/** Pruning options for the chosen method, budget and layer. */
function pruningOptions(method: MethodName, keep: number, layer: number) {
  return { method, budget: keep, tokenizer: processor, ...(layer > 0 ? { layer, decoder: decoderBytes! } : {}) };
}

async function load(): Promise<void> {
  config = await (await fetch(`/models/${MODEL_ID}/config.json`)).json();
  processor = await AutoProcessor.from_pretrained(MODEL_ID);
  model = await AutoModelForImageTextToText.from_pretrained(MODEL_ID, { dtype: 'fp32', device: 'wasm' });
  // The same file transformers.js loaded as the decoder session (dtype fp32), to be split in the page.
  const decoderResponse = await fetch(`/models/${MODEL_ID}/onnx/decoder_model_merged.onnx`);
  if (!decoderResponse.ok) throw new Error(`cannot fetch the decoder for layer-K pruning (HTTP ${decoderResponse.status})`);
  decoderBytes = new Uint8Array(await decoderResponse.arrayBuffer());
  fillLayers();
  await showScene();
  // Warm-up of both paths (and of the chosen layer's split): the first run of each ONNX session (and of the
  // pruned path's shorter shapes) pays one-off costs, and the first layer-K run splits the decoder; without
  // this the first comparison would be skewed by whichever ran cold.
  status.textContent = 'Warming up…';
  const warm = await prepare();
  const warmBudget = Math.max(1, Math.round(tokensPerImage / 9));
  await model.generate({ ...warm, max_new_tokens: 2, do_sample: false });
  for (const layer of new Set([0, Number(layerSelect.value)])) {
    await withTokenPruning(model, pruningOptions('d2pruner', warmBudget, layer)).generate({ ...warm, max_new_tokens: 2, do_sample: false });
  }
  const fixture = !config._name_or_path && (await fetch(`/models/${MODEL_ID}/fixture.json`)).ok;
  $('note').textContent = fixture
    ? `Model: a tiny random-weight ${config.model_type} test fixture (models/testbed is not there), so answers are noise; the pruning, counts, overlay and timings are real.`
    : `Model: ${config.model_type} from /models/${MODEL_ID}/ (served locally), transformers.js on onnxruntime-web (wasm, 1 thread).`;
  status.textContent = `Ready: ${config.model_type}, ${tokensPerImage} visual tokens per image, onnxruntime-web wasm.`;
  status.dataset.ready = 'true';
  runButton.disabled = false;
  demo.ready = true;
}

async function useImage(blob: Blob, cases: Omit<Case, 'image'>[] = []): Promise<void> {
  sceneCases = cases;
  const list = $('scene-questions');
  list.replaceChildren(...cases.map((c) => new Option(c.prompt, c.prompt)));
  const element = new Image();
  element.src = URL.createObjectURL(blob);
  await element.decode();
  preview.src = element.src;
  image = { raw: await RawImage.fromBlob(blob), element };
  tokensPerImage = countImageTokens(await prepare());
  budget.max = String(tokensPerImage);
  if (Number(budget.value) > tokensPerImage) budget.value = String(Math.max(1, Math.round(tokensPerImage / 9)));
  budgetValue.value = `${budget.value} / ${tokensPerImage}`;
}

async function prepare(): Promise<any> {
  return chatInputs(processor, config.model_type, image!.raw, question.value);
}

function countImageTokens(inputs: any): number {
  const id = BigInt(config.image_token_index ?? config.image_token_id);
  let count = 0;
  for (const token of inputs.input_ids.data as BigInt64Array) if (token === id) count++;
  return count;
}

/** generate() with a streamer that records the time to the first generated token. */
async function answer(target: any, inputs: any): Promise<{ text: string; ttft: number; total: number }> {
  let puts = 0;
  let ttft = 0;
  const start = performance.now();
  const streamer = { put: () => (++puts === 2 ? (ttft = performance.now() - start) : 0), end: () => {} };
  const output = await target.generate({ ...inputs, max_new_tokens: MAX_NEW_TOKENS, do_sample: false, streamer });
  const total = performance.now() - start;
  const length = inputs.input_ids.dims[1];
  const tokenizer = processor.tokenizer ?? processor;
  const text = tokenizer.batch_decode(output.slice(null, [length, null]), { skip_special_tokens: true })[0].trim();
  return { text: text || '(empty)', ttft, total };
}

async function run(): Promise<void> {
  if (!question.value.trim()) {
    status.textContent = 'Type a question first.';
    question.focus();
    return;
  }
  runButton.disabled = true;
  status.textContent = 'Running…';
  try {
    const inputs = await prepare();
    const method = methodSelect.value as MethodName; // the select lists methodNames only
    const keep = Number(budget.value);
    const layer = Number(layerSelect.value);
    const full = await answer(model, inputs);
    const pruned = withTokenPruning(model, pruningOptions(method, keep, layer));
    const result = await answer(pruned, inputs);
    const report = (pruned as unknown as { lastPruning: PruningReport }).lastPruning;
    const picture = report.images[0]!;
    const expected = expectedCase();
    show('full', full, `${report.before}`, expected);
    show('pruned', result, `${report.before} → ${report.after}`, expected);
    const at = report.layer ?? 0;
    $('pruned-title').textContent = `Pruned: ${method}, budget ${keep}${at > 0 ? `, layer ${at}` : ''}`;
    $('layer-pruned').textContent = at > 0 ? `layer ${at} (attention at layer ${at - 1})` : 'decoder input (prompt relevance)';
    const breakdown = firstTokenBreakdown(report.timings, result.ttft);
    const prefix = at > 1 ? `layers 0–${at - 1}` : 'layer 0';
    // At layer K the importance is the attention of layers < K, run on the whole prompt (the prefix).
    $('decoder-pruned').textContent = at > 0 ? `${breakdown.decoderMs.toFixed(0)} ms (${prefix} on all tokens: ${report.timings.scoringDecoderMs.toFixed(0)} ms)` : `${breakdown.decoderMs.toFixed(0)} ms`;
    $('importance-pruned').textContent = `${report.timings.scoringMs.toFixed(1)} ms${at > 0 ? ` (reading the attention of ${prefix})` : ' (prompt relevance)'}`;
    $('select-pruned').textContent = `${report.selectMs.toFixed(1)} ms`;
    $('overhead-pruned').textContent = `${breakdown.overheadMs.toFixed(0)} ms, ${(100 * breakdown.share).toFixed(1)}% of TTFT`;
    drawBoxes(expected, full.text, result.text, method);
    const grid = picture.grid ?? { rows: 1, cols: picture.before };
    const regions = tileRegions(grid, processorGeometry(processor, inputs, image!.element.naturalWidth, image!.element.naturalHeight));
    const counts = drawOverlay($<HTMLCanvasElement>('overlay'), { image: image!.element, tokens: picture.before, grid, regions, keep: picture.keep, roles: picture.roles });
    legend(method, picture.after, picture.before, counts);
    demo.runs++;
    demo.last = {
      method,
      budget: keep,
      layer: at,
      importance: report.importance ?? 'promptRelevance',
      before: report.before,
      after: report.after,
      full,
      pruned: result,
      right: expected ? { full: isRight(expected, full.text), pruned: isRight(expected, result.text) } : null,
      counts,
      expected: expected?.answer ?? null,
    };
    demo.lastPruning = {
      layer: report.layer,
      importance: report.importance,
      before: report.before,
      after: report.after,
      sequence: report.sequence,
      importanceMs: report.importanceMs,
      selectMs: report.selectMs,
      timings: report.timings,
      breakdown,
    };
    status.textContent = `Done: ${method} kept ${report.after} of ${report.before} visual tokens${at > 0 ? ` before decoder layer ${at}` : ' at the decoder input'}.`;
  } catch (error) {
    fail(error);
  } finally {
    runButton.disabled = false;
  }
}

/** Right or wrong, as the evaluation scores it (grounding: IoU ≥ 0.5; otherwise the exact answer). */
function isRight(expected: Omit<Case, 'image'>, text: string): boolean {
  if (expected.task !== 'grounding') return text.trim().toLowerCase() === expected.answer;
  const box = answerToBox(text);
  return box !== undefined && iou(box, expected.box!) >= 0.5;
}

function show(which: 'full' | 'pruned', result: { text: string; ttft: number; total: number }, tokens: string, expected?: Omit<Case, 'image'>): void {
  const answer = $(`answer-${which}`);
  answer.textContent = result.text;
  if (expected) {
    const right = isRight(expected, result.text);
    const mark = document.createElement('span');
    mark.className = `mark ${right ? 'right' : 'wrong'}`;
    mark.textContent = right ? '✓ right' : '✗ wrong';
    answer.append(mark);
  }
  $(`tokens-${which}`).textContent = tokens;
  $(`ttft-${which}`).textContent = `${result.ttft.toFixed(0)} ms`;
  $(`time-${which}`).textContent = `${result.total.toFixed(0)} ms`;
}

/** Grounding answers as boxes over the image, next to the expected box (testbed questions only). */
function drawBoxes(expected: Omit<Case, 'image'> | undefined, full: string, pruned: string, method: string): void {
  const boxes: AnswerBox[] = [];
  if (expected?.box) boxes.push({ box: expected.box, colour: '#ffffff', label: 'expected', dashed: true, lineWidth: 7 });
  const fullBox = answerToBox(full);
  const prunedBox = answerToBox(pruned);
  if (fullBox) boxes.push({ box: fullBox, colour: '#00c853', label: 'unpruned', lineWidth: 4.5 });
  if (prunedBox) boxes.push({ box: prunedBox, colour: overlayStyle.pivot, label: method, lineWidth: 2 });
  const figure = $('boxes-figure');
  figure.hidden = !fullBox && !prunedBox;
  if (figure.hidden) return;
  // Box answers are in pixels of the model's input (the testbed processor resizes to IMAGE_SIZE²).
  drawAnswerBoxes($<HTMLCanvasElement>('boxes'), image!.element, { width: IMAGE_SIZE, height: IMAGE_SIZE }, boxes);
  const swatch = (b: AnswerBox) => `<span class="swatch" style="background:${b.colour}"></span>${b.label}`;
  $('boxes-legend').innerHTML = `grounding answers: ${boxes.map(swatch).join('')}`;
}

function legend(method: string, kept: number, total: number, counts: ReturnType<typeof drawOverlay>): void {
  const swatch = (colour: string, label: string) => `<span class="swatch" style="background:${colour}"></span>${label}`;
  const parts = counts.hasRoles
    ? [swatch(overlayStyle.pivot, `${counts.pivot} pivots`), swatch(overlayStyle.mis, `${counts.mis} MIS`), ...(counts.fill ? [swatch(overlayStyle.fill, `${counts.fill} fill`)] : [])]
    : [swatch(overlayStyle.kept, `${kept} kept`)];
  parts.push(swatch('#3c3c3c', `${counts.dropped} dropped`));
  $('legend').innerHTML = `${method}: ${kept}/${total} visual tokens kept ${parts.join('')}`;
}

function fail(error: unknown): void {
  const message = error instanceof Error ? error.message : String(error);
  status.textContent = `Error: ${message}`;
  status.dataset.error = 'true';
  demo.error = message;
  console.error(error);
}

// Pick or drop an image.
const drop = $<HTMLLabelElement>('drop');
$<HTMLInputElement>('file').addEventListener('change', (event) => {
  const file = (event.target as HTMLInputElement).files?.[0];
  if (file) void useImage(file).then(showExpected).catch(fail);
});
drop.addEventListener('dragover', (event) => {
  event.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (event) => {
  event.preventDefault();
  drop.classList.remove('over');
  const file = event.dataTransfer?.files?.[0];
  if (file) void useImage(file).then(showExpected).catch(fail);
});

load().catch(fail);
