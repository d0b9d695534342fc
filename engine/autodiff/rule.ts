/** The contract every gradient rule follows (one rule per op, registered in rules/index.ts). */
import type { Builder } from '../ir/builder';
import type { Node } from '../ir/graph';
import type { DType, Tensor } from '../ir/tensor';

export interface GradContext {
  node: Node;
  b: Builder;
  /** gradient of each output; null where no gradient flows back */
  dy: (string | null)[];
  /** whether each input needs a gradient (rules may skip the others) */
  needs: boolean[];
  /** static shape of any forward tensor */
  shape(name: string): number[];
  dtype(name: string): DType;
  /** value of a tensor known at compile time (initializer), e.g. axes, shapes, frozen weights */
  value(name: string): Tensor | undefined;
}

/** Returns one gradient per input (null/undefined where none is needed or defined). */
export type GradRule = (ctx: GradContext) => (string | null | undefined)[];
