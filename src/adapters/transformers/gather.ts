/**
 * The gather step of a pruned prefill, pure (no tensors, no sessions): every row's kept sequence positions
 * → the decoder's new `inputs_embeds`, `attention_mask` and position ids, left-padded to the longest row.
 */

/** Input of {@link gatherKept}. */
export interface GatherInput {
  batch: number;
  /** Sequence length before pruning (L). */
  length: number;
  /** Embedding width (D). */
  hidden: number;
  /** Per row: the sequence positions kept, ascending. */
  keptRows: readonly (readonly number[])[];
  /** Embeddings [B, L, D] row-major (a float32 array, or the uint16 storage of a float16 session). */
  embeddings: Float32Array | Uint16Array;
  /** Replacement rows (merged features of a merging method), keyed by b·L + p, same element type. */
  replacements?: ReadonlyMap<number, Float32Array | Uint16Array>;
  /** Attention mask [B, L]. */
  mask: ArrayLike<bigint>;
  /** Position ids before pruning: one [B, L] array per axis (three for M-RoPE). */
  positions: readonly ArrayLike<bigint>[];
  /** `'original'`: kept tokens keep their positions; `'compact'`: cumsum(mask) − 1 on every axis. */
  numbering: 'original' | 'compact';
}

/** Output of {@link gatherKept}. */
export interface GatherOutput {
  /** Kept sequence length of the longest row (L′). */
  length: number;
  /** Embeddings [B, L′, D], same element type as the input's. */
  embeddings: Float32Array | Uint16Array;
  /** Attention mask [B, L′] (0 on left padding). */
  mask: BigInt64Array;
  /** Position ids [axes, B, L′] (1 on padding, as transformers.js writes them). */
  positions: BigInt64Array;
  /** Per row: next position − L′, so decoding step s of row b sits at L′ + s + delta[b] on every axis. */
  delta: bigint[];
}

/**
 * Gathers the kept tokens of every row (shorter rows left-padded with masked slots), their embeddings
 * (or replacement rows), mask values and position ids, and the per-row position shift decoding continues from.
 */
export function gatherKept(input: GatherInput): GatherOutput {
  const { batch, length, hidden, keptRows, embeddings, replacements, mask, positions, numbering } = input;
  const axes = positions.length;
  const newLength = Math.max(...keptRows.map((kept) => kept.length));
  const ElementArray = embeddings.constructor as new (n: number) => Float32Array | Uint16Array;
  const newEmbeddings = new ElementArray(batch * newLength * hidden);
  const newMask = new BigInt64Array(batch * newLength);
  const positionData = new BigInt64Array(axes * batch * newLength).fill(1n);
  const delta: bigint[] = [];
  for (let b = 0; b < batch; b++) {
    const kept = keptRows[b]!;
    const pad = newLength - kept.length;
    const out = b * newLength;
    kept.forEach((p, k) => {
      const j = out + pad + k;
      const from = b * length + p;
      newEmbeddings.set(replacements?.get(from) ?? embeddings.subarray(from * hidden, (from + 1) * hidden), j * hidden);
      newMask[j] = mask[from]!;
    });
    const compact = cumsumPositions(newMask, out, newLength);
    let maxPosition = -1n;
    for (let a = 0; a < axes; a++) {
      const axisBase = a * batch * newLength + out;
      if (numbering === 'original') {
        kept.forEach((p, k) => (positionData[axisBase + pad + k] = positions[a]![b * length + p]!));
      } else {
        positionData.set(compact, axisBase);
      }
      for (let j = 0; j < newLength; j++) {
        if (newMask[out + j] !== 0n && positionData[axisBase + j]! > maxPosition) maxPosition = positionData[axisBase + j]!;
      }
    }
    delta.push(maxPosition + 1n - BigInt(newLength));
  }
  return { length: newLength, embeddings: newEmbeddings, mask: newMask, positions: positionData, delta };
}

/** cumsum(mask) − 1, masked slots 1: transformers.js's position ids for a 2-D mask row. */
export function cumsumPositions(mask: ArrayLike<bigint>, start: number, length: number): BigInt64Array {
  const out = new BigInt64Array(length);
  let sum = 0n;
  for (let j = 0; j < length; j++) {
    if (mask[start + j] === 0n) out[j] = 1n;
    else {
      out[j] = sum;
      sum += 1n;
    }
  }
  return out;
}

/**
 * Rows `base + p` (p in `positions`) of a row-major matrix of width `width`: a view when the positions are
 * consecutive (an image's tokens usually are), else a copy. Nothing downstream writes to features.
 */
export function rowsOf(matrix: Float32Array, width: number, base: number, positions: Int32Array): Float32Array {
  const count = positions.length;
  if (count === 0) return new Float32Array(0);
  const first = positions[0]!;
  let consecutive = true;
  for (let t = 1; t < count && consecutive; t++) consecutive = positions[t] === first + t;
  if (consecutive) return matrix.subarray((base + first) * width, (base + first + count) * width);
  const rows = new Float32Array(count * width);
  for (let t = 0; t < count; t++) rows.set(matrix.subarray((base + positions[t]!) * width, (base + positions[t]! + 1) * width), t * width);
  return rows;
}
