/**
 * The testbed's synthetic scene and question generator: the single source of truth for the testbed VLM's
 * training data (dense per-patch labels included) and for its evaluation cases. Pure and deterministic:
 * scene `i` of seed `s` is the same whatever `count` is, on every platform (integer PRNG, no Math.random).
 */
import { ValidationError } from '../core/errors.js';

/** Image side in pixels. */
export const IMAGE_SIZE = 192;
/** Patch side in pixels: a 24×24 grid = 576 visual tokens. */
export const PATCH_SIZE = 8;
/** Patches per side. */
export const GRID = IMAGE_SIZE / PATCH_SIZE;
/** Pixels per coordinate bin of a box answer: bins 0…48 cover 0…192 px. */
export const COORD_BIN = 4;
/** Highest coordinate bin. */
export const COORD_BINS = IMAGE_SIZE / COORD_BIN;

export const SHAPES = Object.freeze(['circle', 'square', 'triangle'] as const);
export type Shape = (typeof SHAPES)[number];

/** Object colours (name → RGB). Clutter uses greys and browns only, never these. */
export const COLORS = Object.freeze({
  red: [215, 35, 35],
  green: [35, 160, 55],
  blue: [40, 75, 215],
  yellow: [230, 200, 25],
  purple: [140, 55, 185],
  orange: [245, 125, 20],
} as const);
export type Color = keyof typeof COLORS;
export const COLOR_NAMES = Object.freeze(Object.keys(COLORS) as Color[]);

export const TASKS = Object.freeze(['yesno', 'color', 'count', 'grounding'] as const);
export type Task = (typeof TASKS)[number];

/** One shape in a scene. `box` is the pixel bounding box of its rendered pixels, [x1, y1, x2, y2), x2/y2 exclusive. */
export interface SceneObject {
  shape: Shape;
  color: Color;
  box: [number, number, number, number];
}

/** A rendered scene: RGB pixels, the objects, and which object covers each pixel (0 = none, k = objects[k-1]). */
export interface Scene {
  rgb: Uint8Array;
  objects: SceneObject[];
  owner: Uint8Array;
}

/** One question about a scene, as written to `cases.jsonl`. */
export interface Case {
  image: string;
  prompt: string;
  answer: string;
  task: Task;
  box?: [number, number, number, number];
}

/** Per-patch label layout (bytes per patch) in `labels.u8`. */
export const LABEL_FIELDS = Object.freeze([
  'shape', // 0 none, 1 circle, 2 square, 3 triangle
  'color', // 0 none, 1… index into COLOR_NAMES + 1
  'center', // 1 when the patch holds the centre of its object's box
  'left', // box bins of the covering object (0…48), 255 when none
  'top',
  'right',
  'bottom',
  'object', // 1-based object index, 0 none
] as const);
export const LABEL_BYTES = LABEL_FIELDS.length;

/** Minimum pixels an object needs inside a patch for the patch to be labelled with it. */
const MIN_PATCH_PIXELS = 6;

/** sfc32 seeded from a 32-bit hash of (seed, index): uniform floats in [0, 1). */
export function sceneRng(seed: number, index: number): () => number {
  let a = hash32(seed ^ 0x9e3779b9);
  let b = hash32(index + 0x85ebca6b);
  let c = hash32(a ^ b ^ 0xc2b2ae35);
  let d = hash32(c + 0x27d4eb2f);
  const next = () => {
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    d >>>= 0;
    let t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    t = (t + d) | 0;
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 12; i++) next();
  return next;
}

function hash32(x: number): number {
  let h = x >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

function randInt(rng: () => number, lo: number, hi: number): number {
  return lo + Math.floor(rng() * (hi - lo + 1));
}

function pick<T>(rng: () => number, items: readonly T[]): T {
  return items[Math.floor(rng() * items.length)]!;
}

interface Placement {
  shape: Shape;
  color: Color;
  x: number;
  y: number;
  size: number;
}

/**
 * Renders one random scene: a tinted, lightly noisy background, clutter (grey/brown lines and dots), and
 * 1–6 non-overlapping shapes (sizes 14–48 px, about a third of them small).
 */
export function renderScene(rng: () => number): Scene {
  const size = IMAGE_SIZE;
  const rgb = new Uint8Array(size * size * 3);
  const owner = new Uint8Array(size * size);
  const base = [randInt(rng, 200, 250), randInt(rng, 200, 250), randInt(rng, 200, 250)];
  const gx = (rng() - 0.5) * 0.2;
  const gy = (rng() - 0.5) * 0.2;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const shade = gx * (x - size / 2) + gy * (y - size / 2);
      const o = (y * size + x) * 3;
      for (let ch = 0; ch < 3; ch++) rgb[o + ch] = clampByte(base[ch]! + shade + (rng() - 0.5) * 12);
    }
  }
  drawClutter(rng, rgb);

  const placements: Placement[] = [];
  const objectCount = randInt(rng, 1, 6);
  for (let k = 0, tries = 0; k < objectCount && tries < 200; tries++) {
    const small = rng() < 0.33;
    const s = small ? randInt(rng, 14, 20) : randInt(rng, 21, 48);
    const x = randInt(rng, 1, size - s - 1);
    const y = randInt(rng, 1, size - s - 1);
    const clash = placements.some((p) => x < p.x + p.size + 3 && p.x < x + s + 3 && y < p.y + p.size + 3 && p.y < y + s + 3);
    if (clash) continue;
    placements.push({ shape: pick(rng, SHAPES), color: pick(rng, COLOR_NAMES), x, y, size: s });
    k++;
  }

  const objects: SceneObject[] = placements.map((p, index) => {
    const jitter = [randInt(rng, -18, 18), randInt(rng, -18, 18), randInt(rng, -18, 18)];
    const colour = COLORS[p.color].map((v, ch) => clampByte(v + jitter[ch]!));
    let x1 = size;
    let y1 = size;
    let x2 = 0;
    let y2 = 0;
    for (let y = p.y; y < p.y + p.size; y++) {
      for (let x = p.x; x < p.x + p.size; x++) {
        if (!inside(p, x + 0.5, y + 0.5)) continue;
        const o = y * size + x;
        owner[o] = index + 1;
        rgb[o * 3] = colour[0]!;
        rgb[o * 3 + 1] = colour[1]!;
        rgb[o * 3 + 2] = colour[2]!;
        if (x < x1) x1 = x;
        if (y < y1) y1 = y;
        if (x + 1 > x2) x2 = x + 1;
        if (y + 1 > y2) y2 = y + 1;
      }
    }
    return { shape: p.shape, color: p.color, box: [x1, y1, x2, y2] };
  });
  return { rgb, objects, owner };
}

function inside(p: Placement, px: number, py: number): boolean {
  const { x, y, size } = p;
  if (p.shape === 'square') return true;
  if (p.shape === 'circle') {
    const r = size / 2;
    const dx = px - (x + r);
    const dy = py - (y + r);
    return dx * dx + dy * dy <= r * r;
  }
  // Isosceles triangle, apex up: at height t (0 top … 1 bottom) it spans t·size around the centre.
  const t = (py - y) / size;
  const half = (t * size) / 2;
  const cx = x + size / 2;
  return px >= cx - half && px <= cx + half;
}

function drawClutter(rng: () => number, rgb: Uint8Array): void {
  const tones = [
    [90, 90, 90],
    [130, 130, 130],
    [110, 85, 60],
    [60, 60, 60],
  ];
  const lines = randInt(rng, 0, 4);
  for (let i = 0; i < lines; i++) {
    const tone = pick(rng, tones);
    const x0 = rng() * IMAGE_SIZE;
    const y0 = rng() * IMAGE_SIZE;
    const angle = rng() * Math.PI * 2;
    const length = 15 + rng() * 60;
    for (let s = 0; s < length; s += 0.5) {
      setPixel(rgb, Math.floor(x0 + Math.cos(angle) * s), Math.floor(y0 + Math.sin(angle) * s), tone);
    }
  }
  const dots = randInt(rng, 0, 8);
  for (let i = 0; i < dots; i++) {
    const tone = pick(rng, tones);
    const cx = randInt(rng, 0, IMAGE_SIZE - 1);
    const cy = randInt(rng, 0, IMAGE_SIZE - 1);
    const r = randInt(rng, 1, 2);
    for (let dy = -r; dy <= r; dy++) for (let dx = -r; dx <= r; dx++) if (dx * dx + dy * dy <= r * r) setPixel(rgb, cx + dx, cy + dy, tone);
  }
}

function setPixel(rgb: Uint8Array, x: number, y: number, tone: readonly number[]): void {
  if (x < 0 || y < 0 || x >= IMAGE_SIZE || y >= IMAGE_SIZE) return;
  const o = (y * IMAGE_SIZE + x) * 3;
  rgb[o] = tone[0]!;
  rgb[o + 1] = tone[1]!;
  rgb[o + 2] = tone[2]!;
}

function clampByte(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
}

/** Box in pixels → its answer text, e.g. `l12 t5 r20 b13` (coordinate tokens of 4-px bins). */
export function boxToAnswer(box: readonly number[]): string {
  const [x1, y1, x2, y2] = box.map((v) => Math.min(COORD_BINS, Math.max(0, Math.round(v! / COORD_BIN))));
  return `l${x1} t${y1} r${x2} b${y2}`;
}

/** Parses a box answer (`l12 t5 r20 b13`, any order, extra words ignored) back to pixels; undefined if incomplete. */
export function answerToBox(answer: string): [number, number, number, number] | undefined {
  const found: Partial<Record<'l' | 't' | 'r' | 'b', number>> = {};
  for (const match of answer.matchAll(/\b([ltrb])(\d{1,2})\b/g)) {
    const key = match[1] as 'l' | 't' | 'r' | 'b';
    if (found[key] === undefined) found[key] = Number(match[2]) * COORD_BIN;
  }
  if (found.l === undefined || found.t === undefined || found.r === undefined || found.b === undefined) return undefined;
  return [found.l, found.t, found.r, found.b];
}

/** Intersection over union of two [x1, y1, x2, y2] boxes (0 when either is empty). */
export function iou(a: readonly number[], b: readonly number[]): number {
  const w = Math.min(a[2]!, b[2]!) - Math.max(a[0]!, b[0]!);
  const h = Math.min(a[3]!, b[3]!) - Math.max(a[1]!, b[1]!);
  const inter = w > 0 && h > 0 ? w * h : 0;
  const area = (r: readonly number[]) => Math.max(0, r[2]! - r[0]!) * Math.max(0, r[3]! - r[1]!);
  const union = area(a) + area(b) - inter;
  return union > 0 ? inter / union : 0;
}

/** Dense per-patch labels (576 × LABEL_BYTES bytes, layout LABEL_FIELDS) for training the vision encoder. */
export function patchLabels(scene: Scene): Uint8Array {
  const labels = new Uint8Array(GRID * GRID * LABEL_BYTES);
  const counts = new Int32Array(scene.objects.length + 1);
  for (let py = 0; py < GRID; py++) {
    for (let px = 0; px < GRID; px++) {
      counts.fill(0);
      for (let y = py * PATCH_SIZE; y < (py + 1) * PATCH_SIZE; y++) {
        for (let x = px * PATCH_SIZE; x < (px + 1) * PATCH_SIZE; x++) counts[scene.owner[y * IMAGE_SIZE + x]!]!++;
      }
      let best = 0;
      for (let k = 1; k < counts.length; k++) if (counts[k]! >= MIN_PATCH_PIXELS && counts[k]! > (best ? counts[best]! : 0)) best = k;
      const o = (py * GRID + px) * LABEL_BYTES;
      if (best === 0) {
        labels.fill(255, o + 3, o + 7);
        continue;
      }
      const object = scene.objects[best - 1]!;
      const [x1, y1, x2, y2] = object.box;
      labels[o] = SHAPES.indexOf(object.shape) + 1;
      labels[o + 1] = COLOR_NAMES.indexOf(object.color) + 1;
      const cx = Math.floor((x1 + x2) / 2 / PATCH_SIZE);
      const cy = Math.floor((y1 + y2) / 2 / PATCH_SIZE);
      labels[o + 2] = cx === px && cy === py ? 1 : 0;
      labels[o + 3] = Math.round(x1 / COORD_BIN);
      labels[o + 4] = Math.round(y1 / COORD_BIN);
      labels[o + 5] = Math.round(x2 / COORD_BIN);
      labels[o + 6] = Math.round(y2 / COORD_BIN);
      labels[o + 7] = best;
    }
  }
  return labels;
}

const plural = (shape: Shape) => `${shape}s`;

/** Whether `task` can be asked about `scene` (colour needs a shape kind present exactly once, grounding a unique colour+shape). */
function answerable(scene: Scene, task: Task): boolean {
  if (task === 'color') return SHAPES.some((s) => scene.objects.filter((o) => o.shape === s).length === 1);
  if (task === 'grounding') return scene.objects.some((o) => uniqueCombo(scene, o));
  return true;
}

function uniqueCombo(scene: Scene, object: SceneObject): boolean {
  return scene.objects.filter((o) => o.shape === object.shape && o.color === object.color).length === 1;
}

/**
 * Writes one question of `task` about `scene`. For yes/no, `yes` decides the answer; half of the "no"
 * questions (when the scene allows) are binding negatives: the colour and the shape both appear, never together.
 */
export function makeQuestion(
  rng: () => number,
  scene: Scene,
  task: Task,
  yes: boolean,
): Omit<Case, 'image'> {
  const objects = scene.objects;
  if (task === 'yesno') {
    if (yes) {
      const o = pick(rng, objects);
      return { prompt: `is there a ${o.color} ${o.shape}?`, answer: 'yes', task };
    }
    const present = new Set(objects.map((o) => `${o.color} ${o.shape}`));
    const absent: string[] = [];
    const binding: string[] = [];
    for (const color of COLOR_NAMES) {
      for (const shape of SHAPES) {
        const combo = `${color} ${shape}`;
        if (present.has(combo)) continue;
        absent.push(combo);
        if (objects.some((o) => o.color === color) && objects.some((o) => o.shape === shape)) binding.push(combo);
      }
    }
    const combo = binding.length > 0 && rng() < 0.5 ? pick(rng, binding) : pick(rng, absent);
    return { prompt: `is there a ${combo}?`, answer: 'no', task };
  }
  if (task === 'color') {
    const once = SHAPES.filter((s) => objects.filter((o) => o.shape === s).length === 1);
    const shape = pick(rng, once);
    return { prompt: `what color is the ${shape}?`, answer: objects.find((o) => o.shape === shape)!.color, task };
  }
  if (task === 'count') {
    const shape = pick(rng, SHAPES);
    return { prompt: `how many ${plural(shape)} are there?`, answer: String(objects.filter((o) => o.shape === shape).length), task };
  }
  const target = pick(
    rng,
    objects.filter((o) => uniqueCombo(scene, o)),
  );
  return { prompt: `where is the ${target.color} ${target.shape}?`, answer: boxToAnswer(target.box), task, box: [...target.box] };
}

/** One generated scene with its questions. */
export interface GeneratedScene {
  scene: Scene;
  cases: Omit<Case, 'image'>[];
}

/**
 * Scene `index` of `seed` with `questions` questions. Tasks cycle through yesno, color, count, grounding,
 * starting at task `(index · questions) mod 4`, so a file of N scenes × 1 question holds each task N/4
 * times. The k-th yes/no question of the file (counted the same way) is "yes" when k is even, so yes/no is
 * exactly half yes. The scene is redrawn (deterministically) until every task asked of it is answerable.
 */
export function generateScene(seed: number, index: number, questions = 1): GeneratedScene {
  validateGenerateOptions(seed, 1, questions);
  if (!Number.isInteger(index) || index < 0 || index >= 1_000_000) throw new ValidationError('index', index, 'must be an integer in [0, 1000000)');
  const rng = sceneRng(seed, index);
  const tasks: Task[] = [];
  for (let q = 0; q < questions; q++) tasks.push(TASKS[(index * questions + q) % TASKS.length]!);
  let scene = renderScene(rng);
  while (!tasks.every((task) => answerable(scene, task))) scene = renderScene(rng);
  const cases = tasks.map((task, q) => {
    const ordinal = index * questions + q;
    // yes/no questions sit at ordinals ≡ 0 (mod 4): alternate yes/no by ordinal / 4.
    const yes = Math.floor(ordinal / TASKS.length) % 2 === 0;
    return makeQuestion(rng, scene, task, yes);
  });
  return { scene, cases };
}

/** Validates generator arguments (CLI and API alike). */
export function validateGenerateOptions(seed: number, count: number, questions: number): void {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new ValidationError('seed', seed, 'must be an integer in [0, 2^32)');
  if (!Number.isInteger(count) || count < 1 || count > 1_000_000) throw new ValidationError('count', count, 'must be an integer in [1, 1000000]');
  if (!Number.isInteger(questions) || questions < 1 || questions > 64) throw new ValidationError('questions', questions, 'must be an integer in [1, 64]');
}
