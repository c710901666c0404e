/**
 * The browser demo: a transformers.js VLM on onnxruntime-web (wasm, files served by this page), asked one
 * question twice — unpruned, and with `withTokenPruning` at the chosen method and budget — with the answers,
 * visual-token counts, times and the overlay of kept tokens side by side.
 */
import { AutoModelForImageTextToText, AutoProcessor, RawImage, env } from '@huggingface/transformers';
import { methodNames } from 'd2pruner';
import { overlayStyle, processorGeometry, tileRegions, withTokenPruning, type PruningReport } from 'd2pruner/transformers';
import { drawOverlay } from './overlay.js';

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
const LLAVA_ORDER = new Set(['llava', 'llava_qwen2', 'llava_onevision', 'moondream1']);

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const status = $<HTMLParagraphElement>('status');
const runButton = $<HTMLButtonElement>('run');
const budget = $<HTMLInputElement>('budget');
const budgetValue = $<HTMLOutputElement>('budget-value');
const methodSelect = $<HTMLSelectElement>('method');
const question = $<HTMLInputElement>('question');
const preview = $<HTMLImageElement>('preview');

/* eslint-disable @typescript-eslint/no-explicit-any -- transformers.js models and processors are untyped */
let model: any;
let processor: any;
let config: any;
let image: { raw: RawImage; element: HTMLImageElement } | null = null;
let tokensPerImage = 0;

/** State for the browser test and for people poking at the console. */
const demo = ((window as any).__demo = { ready: false, runs: 0, last: null as unknown, error: null as string | null });

for (const name of methodNames) methodSelect.add(new Option(name, name, name === 'd2pruner', name === 'd2pruner'));
budget.addEventListener('input', () => (budgetValue.value = `${budget.value} / ${tokensPerImage || '?'}`));
runButton.addEventListener('click', () => void run());

async function load(): Promise<void> {
  config = await (await fetch(`/models/${MODEL_ID}/config.json`)).json();
  processor = await AutoProcessor.from_pretrained(MODEL_ID);
  model = await AutoModelForImageTextToText.from_pretrained(MODEL_ID, { dtype: 'fp32', device: 'wasm' });
  await useImage(await (await fetch('/samples/testbed-scene.png')).blob());
  // Warm-up: the first run of each ONNX session pays one-off costs; without this the unpruned answer (run
  // first) would look slower than it is.
  status.textContent = 'Warming up…';
  await model.generate({ ...(await prepare()), max_new_tokens: 2, do_sample: false });
  const fixture = !config._name_or_path && (await fetch(`/models/${MODEL_ID}/fixture.json`)).ok;
  $('note').textContent = fixture
    ? `Model: a tiny random-weight ${config.model_type} test fixture (models/testbed is not there), so answers are noise; the pruning, counts, overlay and timings are real.`
    : `Model: ${config.model_type} from /models/${MODEL_ID}/ (served locally), transformers.js on onnxruntime-web (wasm, 1 thread).`;
  status.textContent = `Ready: ${config.model_type}, ${tokensPerImage} visual tokens per image, onnxruntime-web wasm.`;
  status.dataset.ready = 'true';
  runButton.disabled = false;
  demo.ready = true;
}

async function useImage(blob: Blob): Promise<void> {
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
  const messages = [{ role: 'user', content: [{ type: 'image' }, { type: 'text', text: question.value }] }];
  const text = processor.apply_chat_template ? processor.apply_chat_template(messages, { add_generation_prompt: true }) : `<image>\n${question.value}`;
  return LLAVA_ORDER.has(config.model_type) ? processor(image!.raw, text) : processor(text, image!.raw);
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
  runButton.disabled = true;
  status.textContent = 'Running…';
  try {
    const inputs = await prepare();
    const method = methodSelect.value;
    const keep = Number(budget.value);
    const full = await answer(model, inputs);
    const pruned = withTokenPruning(model, { method, budget: keep, tokenizer: processor });
    const result = await answer(pruned, inputs);
    const report = (pruned as unknown as { lastPruning: PruningReport }).lastPruning;
    const picture = report.images[0]!;
    show('full', full, `${report.before}`);
    show('pruned', result, `${report.before} → ${report.after}`);
    $('pruned-title').textContent = `Pruned: ${method}, budget ${keep}`;
    $('select-pruned').textContent = `${report.selectMs.toFixed(1)} ms (importance ${report.importanceMs.toFixed(1)} ms)`;
    const grid = picture.grid ?? { rows: 1, cols: picture.before };
    const regions = tileRegions(grid, processorGeometry(processor, inputs, image!.element.naturalWidth, image!.element.naturalHeight));
    const counts = drawOverlay($<HTMLCanvasElement>('overlay'), { image: image!.element, tokens: picture.before, grid, regions, keep: picture.keep, roles: picture.roles });
    legend(method, picture.after, picture.before, counts);
    demo.runs++;
    demo.last = { method, budget: keep, before: report.before, after: report.after, full, pruned: result, counts };
    status.textContent = `Done: ${method} kept ${report.after} of ${report.before} visual tokens.`;
  } catch (error) {
    fail(error);
  } finally {
    runButton.disabled = false;
  }
}

function show(which: 'full' | 'pruned', result: { text: string; ttft: number; total: number }, tokens: string): void {
  $(`answer-${which}`).textContent = result.text;
  $(`tokens-${which}`).textContent = tokens;
  $(`ttft-${which}`).textContent = `${result.ttft.toFixed(0)} ms`;
  $(`time-${which}`).textContent = `${result.total.toFixed(0)} ms`;
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
  if (file) void useImage(file).catch(fail);
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
  if (file) void useImage(file).catch(fail);
});

load().catch(fail);
