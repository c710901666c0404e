/**
 * A binary max-heap of token indices keyed by `values` (ties: lower index first, the contract's tie rule),
 * for lazy greedy selection: a token's value may only change while it is out of the heap.
 */
export class TokenHeap {
  private readonly items: Int32Array;
  private count = 0;

  constructor(
    private readonly values: Float64Array,
    capacity: number,
  ) {
    this.items = new Int32Array(capacity);
  }

  get size(): number {
    return this.count;
  }

  private before(a: number, b: number): boolean {
    const x = this.values[a];
    const y = this.values[b];
    return x > y || (x === y && a < b);
  }

  push(token: number): void {
    const items = this.items;
    let at = this.count++;
    while (at > 0) {
      const parent = (at - 1) >> 1;
      if (!this.before(token, items[parent])) break;
      items[at] = items[parent];
      at = parent;
    }
    items[at] = token;
  }

  /** Removes and returns the first token (largest value, then lowest index). */
  pop(): number {
    const items = this.items;
    const top = items[0];
    const last = items[--this.count];
    let at = 0;
    for (;;) {
      let child = 2 * at + 1;
      if (child >= this.count) break;
      if (child + 1 < this.count && this.before(items[child + 1], items[child])) child++;
      if (!this.before(items[child], last)) break;
      items[at] = items[child];
      at = child;
    }
    items[at] = last;
    return top;
  }
}
