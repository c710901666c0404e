/**
 * Data-flow analysis of an ONNX graph for splitting a decoder: producers, consumers, ancestors, and the
 * tensors every data path from a source to a set of targets runs through (dominators).
 *
 * "Data" edges ignore the input of metadata ops (`Shape`, `Size`): they read a tensor's shape, not its values,
 * so a path through them does not carry the residual stream.
 */
import type { GraphProto, NodeProto } from 'onnx-buf';
import { ValidationError } from '../core/errors.js';

/** Ops whose output depends on their input's shape only. */
export const METADATA_OPS: ReadonlySet<string> = new Set(['Shape', 'Size']);

/** Whether `node` only reads the shape of its inputs. */
export function isMetadataNode(node: NodeProto): boolean {
  return (node.domain === '' || node.domain === 'ai.onnx') && METADATA_OPS.has(node.opType);
}

/** Producer and consumer lookup over a graph's nodes, in topological order. */
export class GraphIndex {
  /** Nodes in topological order. */
  readonly nodes: readonly NodeProto[];
  /** Tensor name → index (into `nodes`) of the node producing it; absent for inputs and initializers. */
  readonly producer = new Map<string, number>();
  /** Tensor name → indices of the nodes reading it. */
  readonly consumers = new Map<string, number[]>();
  /** Names of graph inputs and initializers. */
  readonly sources = new Set<string>();

  constructor(graph: GraphProto) {
    for (const input of graph.input) this.sources.add(input.name);
    for (const init of graph.initializer) this.sources.add(init.name);
    for (const node of graph.node) {
      if (node.attribute.some((a) => a.g !== undefined || a.graphs.length > 0)) {
        throw new ValidationError(
          'decoder',
          `${node.opType} node ${JSON.stringify(node.name)}`,
          'has a subgraph (If/Loop/Scan); graphs with control flow cannot be split at a layer — use layer: 0',
        );
      }
    }
    this.nodes = topologicalOrder(graph.node, this.sources);
    this.nodes.forEach((node, i) => {
      for (const out of node.output) if (out !== '') this.producer.set(out, i);
      for (const inp of node.input) {
        if (inp === '') continue;
        const list = this.consumers.get(inp);
        if (list) list.push(i);
        else this.consumers.set(inp, [i]);
      }
    });
  }

  /**
   * Indices of the nodes needed to compute `targets` (every input, metadata or not), ascending, stopping at
   * the tensors in `stop` (treated as given).
   */
  ancestorNodes(targets: Iterable<string>, stop: ReadonlySet<string> = new Set()): number[] {
    const seen = new Set<number>();
    const stack: string[] = [...targets];
    const visited = new Set<string>();
    while (stack.length > 0) {
      const name = stack.pop()!;
      if (visited.has(name) || stop.has(name)) continue;
      visited.add(name);
      const p = this.producer.get(name);
      if (p === undefined || seen.has(p)) continue;
      seen.add(p);
      for (const inp of this.nodes[p]!.input) if (inp !== '') stack.push(inp);
    }
    return [...seen].sort((a, b) => a - b);
  }

  /**
   * Tensors reachable from `source` along data edges (metadata ops excluded), including `source`; paths stop
   * at the tensors in `stop` (which are included when reached).
   */
  dataDescendants(source: string, stop: ReadonlySet<string> = new Set()): Set<string> {
    const seen = new Set<string>([source]);
    const stack = [source];
    while (stack.length > 0) {
      const name = stack.pop()!;
      if (stop.has(name)) continue;
      for (const c of this.consumers.get(name) ?? []) {
        const node = this.nodes[c]!;
        if (isMetadataNode(node)) continue;
        for (const out of node.output) {
          if (out !== '' && !seen.has(out)) {
            seen.add(out);
            stack.push(out);
          }
        }
      }
    }
    return seen;
  }

  /** Tensors from which one of `targets` is reachable along data edges, including the targets. */
  dataAncestors(targets: Iterable<string>): Set<string> {
    const seen = new Set<string>();
    const stack = [...targets];
    while (stack.length > 0) {
      const name = stack.pop()!;
      if (seen.has(name)) continue;
      seen.add(name);
      const p = this.producer.get(name);
      if (p === undefined) continue;
      const node = this.nodes[p]!;
      if (isMetadataNode(node)) continue;
      for (const inp of node.input) if (inp !== '') stack.push(inp);
    }
    return seen;
  }

  /**
   * The tensors (other than `source`) that every data path from `source` to any of `targets` passes
   * through, in topological order. Targets that `source` does not reach are an error.
   *
   * Sweep over a topological order of the tensors on such paths: a tensor before the first target dominates
   * iff no data edge between two of them jumps over its position (an edge that did would give a path around
   * it; a path that does not jump must step on it to reach a later target).
   */
  dominators(source: string, targets: readonly string[]): string[] {
    const forward = this.dataDescendants(source);
    for (const t of targets) {
      if (!forward.has(t)) throw new ValidationError('decoder', t, `does not depend on ${source}; cannot find the layer cut — use layer: 0`);
    }
    const backward = this.dataAncestors(targets);
    const onPath = (name: string) => forward.has(name) && backward.has(name);
    const order: string[] = [source];
    const position = new Map<string, number>([[source, 0]]);
    for (const node of this.nodes) {
      for (const out of node.output) {
        if (out !== '' && onPath(out) && !position.has(out)) {
          position.set(out, order.length);
          order.push(out);
        }
      }
    }
    const cover = new Int32Array(order.length + 1);
    for (const node of this.nodes) {
      if (isMetadataNode(node)) continue;
      for (const inp of node.input) {
        const from = position.get(inp);
        if (from === undefined) continue;
        for (const out of node.output) {
          const to = position.get(out);
          if (to === undefined || to <= from + 1) continue;
          cover[from + 1]! += 1;
          cover[to]! -= 1;
        }
      }
    }
    // A dominator of every target is an ancestor of each, hence before the first of them in any order.
    const first = Math.min(...targets.map((t) => position.get(t)!));
    const result: string[] = [];
    let running = 0;
    for (let p = 0; p < first; p++) {
      running += cover[p]!;
      if (p > 0 && running === 0) result.push(order[p]!);
    }
    return result;
  }
}

/** Kahn's algorithm, stable with respect to the stored order (which ONNX requires to be topological already). */
function topologicalOrder(nodes: readonly NodeProto[], sources: ReadonlySet<string>): NodeProto[] {
  const producedBy = new Map<string, number>();
  nodes.forEach((node, i) => node.output.forEach((o) => o !== '' && producedBy.set(o, i)));
  const waiting = new Int32Array(nodes.length);
  const dependents: number[][] = nodes.map(() => []);
  nodes.forEach((node, i) => {
    const deps = new Set<number>();
    for (const inp of node.input) {
      if (inp === '' || sources.has(inp)) continue;
      const p = producedBy.get(inp);
      if (p !== undefined && p !== i) deps.add(p);
    }
    waiting[i] = deps.size;
    for (const d of deps) dependents[d]!.push(i);
  });
  const ready: number[] = [];
  for (let i = nodes.length - 1; i >= 0; i--) if (waiting[i] === 0) ready.push(i);
  const order: NodeProto[] = [];
  // A min-heap would keep the stored order exactly; a sorted insertion is enough for graphs of this size.
  while (ready.length > 0) {
    const i = ready.pop()!;
    order.push(nodes[i]!);
    for (const d of dependents[i]!) {
      waiting[d]! -= 1;
      if (waiting[d] === 0) {
        let at = ready.length;
        while (at > 0 && ready[at - 1]! < d) at--;
        ready.splice(at, 0, d);
      }
    }
  }
  if (order.length !== nodes.length) throw new ValidationError('decoder', nodes.length - order.length, 'nodes are in a cycle; not a valid ONNX graph');
  return order;
}

const BOOL_OPS = new Set(['Equal', 'Less', 'LessOrEqual', 'Greater', 'GreaterOrEqual', 'And', 'Or', 'Xor', 'Not', 'IsNaN', 'IsInf']);
const INT64_OPS = new Set(['Shape', 'Size', 'ArgMax', 'ArgMin', 'NonZero']);

/**
 * The element type (TensorProto.DataType) of a tensor: declared (input, initializer, value_info) or inferred
 * along its producers — Cast's `to`, int64 for shape ops, bool for comparisons, otherwise the type of the
 * first typed input (true of the elementwise, matmul and normalisation ops a residual stream goes through).
 * Returns 0 (UNDEFINED) when it cannot tell.
 */
export function elemTypeOf(graph: GraphProto, index: GraphIndex, name: string): number {
  const declared = new Map<string, number>();
  for (const info of [...graph.input, ...graph.valueInfo, ...graph.output]) {
    if (info.type?.value.case === 'tensorType' && info.type.value.value.elemType) declared.set(info.name, info.type.value.value.elemType);
  }
  for (const init of graph.initializer) declared.set(init.name, init.dataType);
  const memo = new Map<string, number>();
  const visit = (tensor: string, depth: number): number => {
    const known = declared.get(tensor) ?? memo.get(tensor);
    if (known !== undefined) return known;
    const p = index.producer.get(tensor);
    if (p === undefined || depth > 10_000) return 0;
    const node = index.nodes[p]!;
    let type = 0;
    if (node.opType === 'Cast') type = Number(node.attribute.find((a) => a.name === 'to')?.i ?? 0n);
    else if (INT64_OPS.has(node.opType)) type = 7;
    else if (BOOL_OPS.has(node.opType)) type = 9;
    else {
      for (const input of node.input) {
        if (input === '') continue;
        type = visit(input, depth + 1);
        if (type !== 0) break;
      }
    }
    memo.set(tensor, type);
    return type;
  };
  return visit(name, 0);
}
