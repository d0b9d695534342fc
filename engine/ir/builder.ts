/**
 * A graph-building API that reads like the math (in the spirit of onnxscript):
 * `b.matmul(x, w)` appends a MatMul node and returns its output name.
 */
import type { Attr, Graph, Node } from './graph';
import { int, ints } from './graph';
import { int64s, scalar, tensor, type DType, type Tensor } from './tensor';

export class Builder {
  private used: Set<string>;
  private counter = 0;

  constructor(
    readonly g: Graph,
    readonly prefix: string,
    /** float type of constants the builder creates (float64 in gradient checks) */
    readonly floatType: DType = 'float32',
    /** opset of the model being built: picks attribute or input forms (ReduceMean axes, Split sizes…) */
    readonly opset: number = 17,
  ) {
    this.used = new Set<string>([...g.initializers.keys(), ...g.inputs.map((i) => i.name)]);
    for (const n of g.nodes) {
      this.used.add(n.name);
      for (const o of n.outputs) this.used.add(o);
    }
  }

  fresh(hint: string): string {
    let name: string;
    do name = `${this.prefix}/${hint}_${this.counter++}`;
    while (this.used.has(name));
    this.used.add(name);
    return name;
  }

  /** appends a node; returns its outputs */
  opN(op: string, inputs: string[], nOut: number, attrs: Record<string, Attr> = {}): string[] {
    const outputs = Array.from({ length: nOut }, () => this.fresh(op));
    const node: Node = { name: this.fresh(`${op}_node`), op, domain: '', inputs, outputs, attrs };
    this.g.nodes.push(node);
    return outputs;
  }

  op(op: string, inputs: string[], attrs: Record<string, Attr> = {}): string {
    return this.opN(op, inputs, 1, attrs)[0];
  }

  constant(t: Tensor, hint = 'const'): string {
    const name = this.fresh(hint);
    this.g.initializers.set(name, t);
    return name;
  }
  ints(values: number[]): string {
    return this.constant(int64s(values), 'ints');
  }
  /** a float scalar in the builder's float type */
  scalar(v: number): string {
    return this.constant(scalar(this.floatType, v), 'scalar');
  }
  floats(dims: number[], values: ArrayLike<number>): string {
    return this.constant(tensor(this.floatType, dims, values), 'floats');
  }

  add = (a: string, b: string) => this.op('Add', [a, b]);
  sub = (a: string, b: string) => this.op('Sub', [a, b]);
  mul = (a: string, b: string) => this.op('Mul', [a, b]);
  div = (a: string, b: string) => this.op('Div', [a, b]);
  neg = (a: string) => this.op('Neg', [a]);
  sqrt = (a: string) => this.op('Sqrt', [a]);
  exp = (a: string) => this.op('Exp', [a]);
  log = (a: string) => this.op('Log', [a]);
  matmul = (a: string, b: string) => this.op('MatMul', [a, b]);
  identity = (a: string) => this.op('Identity', [a]);
  sum = (xs: string[]) => (xs.length === 1 ? xs[0] : this.op('Sum', xs));
  transpose = (x: string, perm: number[]) => this.op('Transpose', [x], { perm: ints(perm) });
  reshape = (x: string, dims: number[]) => this.op('Reshape', [x, this.ints(dims)]);
  cast = (x: string, to: number) => this.op('Cast', [x], { to: int(to) });
  reduceSum(x: string, axes: number[], keepdims: boolean): string {
    return this.reduce('ReduceSum', x, axes, keepdims);
  }
  reduceMean(x: string, axes: number[], keepdims: boolean): string {
    return this.reduce('ReduceMean', x, axes, keepdims);
  }
  /** a Reduce* op; `axes` moved from attribute to input at opset 13 (ReduceSum) and 18 (the others) */
  reduce(op: string, x: string, axes: number[], keepdims: boolean): string {
    const keep = { keepdims: int(keepdims ? 1 : 0) };
    if (!axes.length) return this.op(op, [x], keep);
    const asInput = this.opset >= (op === 'ReduceSum' ? 13 : 18);
    return asInput ? this.op(op, [x, this.ints(axes)], keep) : this.op(op, [x], { ...keep, axes: ints(axes) });
  }
  /** splits `x` along `axis` into pieces of `sizes` (an input from opset 13, an attribute before) */
  split(x: string, sizes: number[], axis: number): string[] {
    const attrs = { axis: int(axis) };
    return this.opset >= 13
      ? this.opN('Split', [x, this.ints(sizes)], sizes.length, attrs)
      : this.opN('Split', [x], sizes.length, { ...attrs, split: ints(sizes) });
  }
  /** sum of squares of all elements, as a scalar */
  sumSquares(x: string): string {
    return this.op('ReduceSumSquare', [x], { keepdims: int(0) });
  }
}
