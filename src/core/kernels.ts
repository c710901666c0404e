/**
 * WebAssembly SIMD kernels for the quadratic baselines, with plain-JavaScript equivalents when WebAssembly
 * SIMD is missing (or when the JS path is chosen with {@link setKernelBackend}). Two kinds of kernel:
 *
 * - exact: {@link RowDots.dots} returns `rowDot` of src/core/similarity.ts bit for bit (float64 products of
 *   float32 values are exact, and the SIMD kernel adds them in the same order), so methods built on it give
 *   the same numbers on either path;
 * - approximate: {@link ApproxCosines} (float32 accumulation over unit-normalised rows) returns cosines within
 *   {@link ApproxCosines.bound} of the exact ones, for a fast pass that is followed by an exact recheck.
 *
 * The module is compiled once, synchronously (it is 1.5 kB, under the browsers' limit for synchronous
 * compilation), from the base64 in kernels-wasm.ts; its memory grows to the largest input seen and is reused.
 * Calls are synchronous and not re-entrant: a session is valid until the next one is opened.
 */
import { KERNELS_WASM_BASE64 } from './kernels-wasm.js';
import { rowDot, rowNorms } from './similarity.js';

/** Which implementation the kernels use: `auto` (WebAssembly SIMD when available and the input is not tiny), or one forced. */
export type KernelBackend = 'auto' | 'wasm' | 'js';

interface KernelExports {
  memory: WebAssembly.Memory;
  nearest(feat: number, paddedTokens: number, paddedDim: number, tokens: number, best: number): void;
  row(feat: number, paddedDim: number, tokens: number, p: number, out: number): void;
  scan(feat: number, paddedTokens: number, paddedDim: number, tokens: number, best: number, i0: number, start: number, limit: number): number;
  dots(feat: number, dim: number, p: number, list: number, count: number, out: number): void;
  rowstats(feat: number, dim: number, tokens: number, query: number, sq: number, dot: number): void;
}

let compiled: KernelExports | null | undefined;
let preferred: KernelBackend = 'auto';
/** Below this many feature values the JS path is as fast and skips the copy into WebAssembly memory. */
const AUTO_MIN_VALUES = 1 << 14;

function loadKernels(): KernelExports | null {
  if (compiled !== undefined) return compiled;
  try {
    const text = atob(KERNELS_WASM_BASE64);
    const bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    compiled = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports as unknown as KernelExports;
  } catch {
    compiled = null; // no WebAssembly, or no SIMD: the JS path
  }
  return compiled;
}

/** True when the WebAssembly SIMD kernels compiled on this platform. */
export function wasmSimdAvailable(): boolean {
  return loadKernels() !== null;
}

/**
 * Chooses the kernel implementation for later calls (tests and benchmarks compare the two; results are the
 * same either way). `wasm` falls back to `js` where WebAssembly SIMD is unavailable.
 * @returns the previous setting.
 */
export function setKernelBackend(backend: KernelBackend): KernelBackend {
  const previous = preferred;
  preferred = backend;
  return previous;
}

function useWasm(values: number): KernelExports | null {
  if (preferred === 'js') return null;
  if (preferred === 'auto' && values < AUTO_MIN_VALUES) return null;
  return loadKernels();
}

let nextFree = 0;

/**
 * Lays out `sizes` (bytes), 16-byte aligned, after the previous reservation (from address 0 when `fresh`),
 * growing the memory to fit; returns the addresses. Growing detaches earlier views, so sessions re-create
 * their views when the buffer changed.
 */
function reserve(kernels: KernelExports, sizes: number[], fresh: boolean): number[] {
  const addresses: number[] = [];
  let end = fresh ? 0 : nextFree;
  for (const size of sizes) {
    addresses.push(end);
    end += Math.ceil(size / 16) * 16;
  }
  const have = kernels.memory.buffer.byteLength;
  if (end > have) kernels.memory.grow(Math.ceil((end - have) / 65536));
  nextFree = end;
  return addresses;
}

/** Exact row dot products over one feature matrix. */
export interface RowDots {
  readonly backend: 'wasm' | 'js';
  /** out[k] = rowDot(features, dim, p, list[k]) for k < count (count ≤ the session's maxList). */
  dots(p: number, list: Int32Array, count: number, out: Float64Array): void;
  /** Euclidean norm of every row, equal to rowNorms of similarity.ts. */
  norms(): Float64Array;
}

/** Exact dots of a row against a list of rows, with room for lists of up to `maxList` rows. */
export function rowDots(features: Float32Array, tokens: number, dim: number, maxList: number): RowDots {
  const kernels = useWasm(tokens * dim);
  if (!kernels) {
    return {
      backend: 'js',
      dots(p, list, count, out) {
        for (let k = 0; k < count; k++) out[k] = rowDot(features, dim, p, list[k]);
      },
      norms: () => rowNorms(features, tokens, dim),
    };
  }
  const size = Math.max(maxList, 1);
  const [feat, listAt, outAt, squaresAt] = reserve(kernels, [features.byteLength, size * 4, size * 8, tokens * 8], true);
  new Float32Array(kernels.memory.buffer, feat, features.length).set(features);
  let buffer = kernels.memory.buffer;
  let listView = new Int32Array(buffer, listAt, size);
  let outView = new Float64Array(buffer, outAt, size);
  const session: RowDots = {
    backend: 'wasm',
    dots(p, list, count, out) {
      if (buffer !== kernels.memory.buffer) {
        buffer = kernels.memory.buffer;
        listView = new Int32Array(buffer, listAt, size);
        outView = new Float64Array(buffer, outAt, size);
      }
      listView.set(count === list.length ? list : list.subarray(0, count));
      kernels.dots(feat, dim, p, listAt, count, outAt);
      out.set(count === outView.length ? outView : outView.subarray(0, count));
    },
    norms() {
      // Every row's rowDot(i, i) in one call (the same sums as `dots`), then the square roots.
      kernels.rowstats(feat, dim, tokens, -1, squaresAt, 0);
      const norms = new Float64Array(kernels.memory.buffer, squaresAt, tokens).slice();
      for (let i = 0; i < tokens; i++) norms[i] = Math.sqrt(norms[i]);
      return norms;
    },
  };
  return session;
}

/** Per-row sums against one query vector (see {@link rowStats}). */
export interface RowStats {
  /** Σ_k f_i[k]², equal to rowDot(features, dim, i, i) of similarity.ts. */
  sumSquares: Float64Array;
  /** Σ_k f_i[k]·query[k], four accumulators in rowDot's order (null without a query). */
  dots: Float64Array | null;
}

/**
 * Every row's sum of squares and, with `query` (float64, length D), its dot product with the query, in one
 * pass over the features. Both paths add the same float64 products in the same order, so they agree bit for
 * bit (tests compare them). WebAssembly SIMD copies the features into its memory first; that is cheaper
 * than the JS loop and does not depend on the JavaScript engine having optimised this code yet.
 */
export function rowStats(features: Float32Array, tokens: number, dim: number, query: Float64Array | null): RowStats {
  const kernels = useWasm(tokens * dim);
  if (!kernels) return rowStatsJs(features, tokens, dim, query);
  const [feat, queryAt, squaresAt, dotsAt] = reserve(kernels, [features.byteLength, query ? dim * 8 : 0, tokens * 8, query ? tokens * 8 : 0], true);
  const buffer = kernels.memory.buffer;
  new Float32Array(buffer, feat, features.length).set(features);
  if (query) new Float64Array(buffer, queryAt, dim).set(query);
  kernels.rowstats(feat, dim, tokens, query ? queryAt : -1, squaresAt, dotsAt);
  return {
    sumSquares: new Float64Array(buffer, squaresAt, tokens).slice(),
    dots: query ? new Float64Array(buffer, dotsAt, tokens).slice() : null,
  };
}

function rowStatsJs(features: Float32Array, tokens: number, dim: number, query: Float64Array | null): RowStats {
  // Without a query the sums of squares are rowDot(i, i), the same additions in the same order.
  if (!query) return { sumSquares: Float64Array.from({ length: tokens }, (_, i) => rowDot(features, dim, i, i)), dots: null };
  const sumSquares = new Float64Array(tokens);
  const dots = new Float64Array(tokens);
  const end4 = dim & ~3;
  const q = query;
  for (let i = 0; i < tokens; i++) {
    const o = i * dim;
    let n0 = 0, n1 = 0, n2 = 0, n3 = 0;
    let d0 = 0, d1 = 0, d2 = 0, d3 = 0;
    let k = 0;
    for (; k < end4; k += 4) {
      const a = features[o + k], b = features[o + k + 1], c = features[o + k + 2], d = features[o + k + 3];
      n0 += a * a; n1 += b * b; n2 += c * c; n3 += d * d;
      d0 += a * q[k]; d1 += b * q[k + 1]; d2 += c * q[k + 2]; d3 += d * q[k + 3];
    }
    for (; k < dim; k++) {
      const a = features[o + k];
      n0 += a * a;
      d0 += a * q[k];
    }
    sumSquares[i] = n0 + n1 + (n2 + n3);
    dots[i] = d0 + d1 + (d2 + d3);
  }
  return { sumSquares, dots };
}

/** Approximate cosines over unit-normalised float32 copies of the rows (WebAssembly SIMD only). */
export interface ApproxCosines {
  /**
   * A proven bound: |approximate − exact| ≤ bound for every pair, where exact is the float64 cosine of
   * similarity.ts (`rowDot / (norms[i]·norms[j])`, 0 for a zero row) and approximate is any value below.
   */
  readonly bound: number;
  /** For every row, the largest approximate cosine with another row (−Infinity when N = 1). */
  nearest(): Float64Array;
  /**
   * The rows that can hold the smallest nearest cosine, found without every pair: rows are scanned in
   * blocks of four, and a block stops as soon as each of its rows has a cosine above (the smallest complete
   * row maximum so far) + 2·bound, which rules it out (its exact nearest cosine is then strictly larger than
   * that complete row's). `complete[i]` = 1 when row i was scanned in full, and then `nearest[i]` is its
   * approximate nearest cosine; the smallest nearest cosine is held by a complete row.
   */
  nearestPruned(): { nearest: Float64Array; complete: Uint8Array };
  /** out[j] = approximate cosine of rows p and j, for every j (out[p] ≈ 1, or 0 for a zero row). */
  row(p: number, out: Float64Array): void;
}

/**
 * Opens the approximate kernels, or returns null on the JS path (callers then use the exact JS code).
 * `norms` are the rows' exact norms (rowNorms). Its memory follows the last {@link rowDots} session's, which
 * stays usable.
 */
export function approxCosines(features: Float32Array, tokens: number, dim: number, norms: Float64Array): ApproxCosines | null {
  const kernels = useWasm(tokens * dim);
  if (!kernels) return null;
  const paddedDim = Math.ceil(dim / 4) * 4;
  const paddedTokens = Math.ceil(tokens / 16) * 16;
  const lanes = paddedDim / 4;
  const u = 2 ** -24;
  if ((lanes + 2) * u > 0.01) return null; // the bound below assumes n·u small (D below ~160,000)
  const [feat, bestAt] = reserve(kernels, [paddedTokens * paddedDim * 4, paddedTokens * 8], false);
  const buffer = kernels.memory.buffer;
  const unit = new Float32Array(buffer, feat, paddedTokens * paddedDim);
  unit.fill(0);
  for (let i = 0; i < tokens; i++) {
    const norm = norms[i];
    if (norm === 0) continue;
    const from = i * dim;
    const to = i * paddedDim;
    for (let d = 0; d < dim; d++) unit[to + d] = features[from + d] / norm;
  }
  // Each output sums n = lanes + 2 rounded float32 terms in a tree of depth ≤ n, so its error is at most
  // γ_n·Σ|x̂_d·ŷ_d| ≤ γ_n·(1 + u)² (Cauchy–Schwarz on unit rows whose entries carry one rounding each);
  // rounding the rows to float32 moves x̂·ŷ by at most (2u + u²) from the true cosine; the float64 cosine
  // of similarity.ts is within (D + 8)·2^-53 of the true one; underflow adds at most 2D·2^-149. The factor
  // 1.01 and the 1e-12 are slack, so that bounds used with a strict comparison stay strict after rounding.
  const gamma = ((lanes + 2) * u) / (1 - (lanes + 2) * u);
  const bound = 1.01 * (gamma * (1 + u) ** 2 + 3 * u + (dim + 8) * 2 ** -53 + 2 * dim * 2 ** -149) + 1e-12;
  const best = new Float64Array(buffer, bestAt, paddedTokens);
  return {
    bound,
    nearest() {
      best.fill(-Infinity);
      kernels.nearest(feat, paddedTokens, paddedDim, tokens, bestAt);
      return best.slice(0, tokens);
    },
    nearestPruned() {
      best.fill(-Infinity);
      const complete = new Uint8Array(tokens);
      let smallest = Infinity;
      for (let i0 = 0; i0 < tokens; i0 += 4) {
        if (!kernels.scan(feat, paddedTokens, paddedDim, tokens, bestAt, i0, i0, smallest + 2 * bound)) continue;
        for (let i = i0; i < Math.min(i0 + 4, tokens); i++) {
          complete[i] = 1;
          if (best[i] < smallest) smallest = best[i];
        }
      }
      return { nearest: best.slice(0, tokens), complete };
    },
    row(p, out) {
      kernels.row(feat, paddedDim, tokens, p, bestAt);
      out.set(best.subarray(0, tokens));
    },
  };
}
