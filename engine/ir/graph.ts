/**
 * Attune's in-memory ONNX graph: plain data that the loader fills, passes transform,
 * and the writer serialises. Only what the engine needs; unknown attributes round-trip untouched.
 */
import type { DType, Tensor } from './tensor';

export type Attr =
  | { kind: 'int'; value: number }
  | { kind: 'float'; value: number }
  | { kind: 'string'; value: string }
  | { kind: 'ints'; value: number[] }
  | { kind: 'floats'; value: number[] }
  | { kind: 'strings'; value: string[] }
  | { kind: 'tensor'; value: Tensor }
  | { kind: 'graph'; value: Graph };

export interface Node {
  name: string;
  op: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, Attr>;
}

export interface ValueInfo {
  name: string;
  dtype: DType;
  /** numbers for fixed dims, strings for symbolic ones such as "batch" */
  shape: (number | string)[];
}

export interface Graph {
  name: string;
  nodes: Node[];
  initializers: Map<string, Tensor>;
  inputs: ValueInfo[];
  outputs: ValueInfo[];
}

export interface Model {
  graph: Graph;
  opset: number;
  /** opsets of other domains, kept so models with contrib ops still save */
  extraOpsets: { domain: string; version: number }[];
  irVersion: number;
  producer: string;
  metadata: Record<string, string>;
}

export function emptyGraph(name = 'graph'): Graph {
  return { name, nodes: [], initializers: new Map(), inputs: [], outputs: [] };
}

function cloneGraph(g: Graph): Graph {
  return {
    name: g.name,
    nodes: g.nodes.map((n) => ({ ...n, inputs: [...n.inputs], outputs: [...n.outputs], attrs: { ...n.attrs } })),
    initializers: new Map(g.initializers),
    inputs: g.inputs.map((v) => ({ ...v, shape: [...v.shape] })),
    outputs: g.outputs.map((v) => ({ ...v, shape: [...v.shape] })),
  };
}

export function cloneModel(m: Model): Model {
  return { ...m, graph: cloneGraph(m.graph), metadata: { ...m.metadata }, extraOpsets: [...m.extraOpsets] };
}

// Attribute readers: rules and passes read attributes with ONNX defaults in one line.
export function attrInt(n: Node, key: string, dflt: number): number {
  const a = n.attrs[key];
  return a && a.kind === 'int' ? a.value : dflt;
}
export function attrFloat(n: Node, key: string, dflt: number): number {
  const a = n.attrs[key];
  return a && a.kind === 'float' ? a.value : dflt;
}
export function attrInts(n: Node, key: string): number[] | undefined {
  const a = n.attrs[key];
  return a && a.kind === 'ints' ? a.value : undefined;
}
export function attrString(n: Node, key: string, dflt: string): string {
  const a = n.attrs[key];
  return a && a.kind === 'string' ? a.value : dflt;
}

export const int = (value: number): Attr => ({ kind: 'int', value });
export const float = (value: number): Attr => ({ kind: 'float', value });
export const ints = (value: number[]): Attr => ({ kind: 'ints', value });
export const str = (value: string): Attr => ({ kind: 'string', value });

/** producer node of each tensor name */
export function producers(g: Graph): Map<string, Node> {
  const m = new Map<string, Node>();
  for (const n of g.nodes) for (const o of n.outputs) if (o) m.set(o, n);
  return m;
}

/** consumer nodes of each tensor name */
export function consumers(g: Graph): Map<string, Node[]> {
  const m = new Map<string, Node[]>();
  for (const n of g.nodes)
    for (const i of n.inputs) {
      if (!i) continue;
      const list = m.get(i);
      if (list) list.push(n);
      else m.set(i, [n]);
    }
  return m;
}

/** Nodes sorted so every producer precedes its consumers (ONNX requires it; passes append freely). */
export function topoSort(g: Graph): void {
  const prod = producers(g);
  const seen = new Set<Node>();
  const out: Node[] = [];
  const visit = (n: Node) => {
    if (seen.has(n)) return;
    seen.add(n);
    for (const i of n.inputs) {
      const p = i ? prod.get(i) : undefined;
      if (p) visit(p);
    }
    out.push(n);
  };
  // iterative fallback is unnecessary: graphs here are ~10^4 nodes deep at most, within the JS stack
  for (const n of g.nodes) visit(n);
  g.nodes = out;
}

/** Removes nodes and initializers that no graph output depends on. */
export function pruneDead(g: Graph): void {
  const prod = producers(g);
  const live = new Set<Node>();
  const needed = new Set<string>(g.outputs.map((o) => o.name));
  const stack = [...needed];
  while (stack.length) {
    const t = stack.pop()!;
    const p = prod.get(t);
    if (!p || live.has(p)) continue;
    live.add(p);
    for (const i of p.inputs) {
      if (i && !needed.has(i)) {
        needed.add(i);
        stack.push(i);
      }
    }
    for (const a of Object.values(p.attrs))
      if (a.kind === 'graph')
        for (const i of outerNames(a.value))
          if (!needed.has(i)) {
            needed.add(i);
            stack.push(i);
          }
  }
  g.nodes = g.nodes.filter((n) => live.has(n));
  for (const k of [...g.initializers.keys()]) if (!needed.has(k)) g.initializers.delete(k);
}

/** `seeds` and every value computed from them by `nodes` (in topological order). */
export function downstreamOf(nodes: readonly Node[], seeds: Iterable<string>): Set<string> {
  const reached = new Set(seeds);
  for (const n of nodes) if (n.inputs.some((i) => i && reached.has(i))) for (const o of n.outputs) reached.add(o);
  return reached;
}

/** Names a subgraph (Loop body) reads from its enclosing scope. */
export function outerNames(g: Graph): Set<string> {
  const local = new Set<string>([...g.inputs.map((i) => i.name), ...g.initializers.keys()]);
  for (const n of g.nodes) for (const o of n.outputs) local.add(o);
  const outer = new Set<string>();
  for (const n of g.nodes) {
    for (const i of n.inputs) if (i && !local.has(i)) outer.add(i);
    for (const a of Object.values(n.attrs))
      if (a.kind === 'graph') for (const i of outerNames(a.value)) if (!local.has(i)) outer.add(i);
  }
  for (const o of g.outputs) if (!local.has(o.name)) outer.add(o.name);
  return outer;
}

/** Renames a tensor everywhere it is read (not where it is produced). */
export function replaceUses(g: Graph, from: string, to: string): void {
  for (const n of g.nodes) n.inputs = n.inputs.map((i) => (i === from ? to : i));
  for (const o of g.outputs) if (o.name === from) o.name = to;
}
