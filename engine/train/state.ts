/** Host-side training state: trainable tensors and their Adam moments, fed to and read back from each step. */
import type { Tensor } from '../ir/tensor';
import { tensor } from '../ir/tensor';
import type { StateNames, TrainProgram } from '../programs/compile';

export class TrainingState {
  /** current value of every state tensor by graph input name (param, m, v) */
  readonly values = new Map<string, Tensor>();

  constructor(private readonly names: StateNames[]) {}

  static fresh(p: TrainProgram): TrainingState {
    const s = new TrainingState(p.state);
    for (const n of p.state) {
      const init = p.initial.get(n.param)!;
      s.values.set(n.param, init);
      s.values.set(n.m, tensor('float32', init.dims));
      s.values.set(n.v, tensor('float32', init.dims));
    }
    return s;
  }

  /** restores from a checkpoint's tensors; every state tensor must be present */
  static restore(p: TrainProgram, saved: Map<string, Tensor>): TrainingState {
    const s = new TrainingState(p.state);
    for (const n of p.state)
      for (const k of [n.param, n.m, n.v]) {
        const t = saved.get(k);
        if (!t) throw new Error(`checkpoint lacks ${k}`);
        s.values.set(k, t);
      }
    return s;
  }

  feeds(into: Record<string, Tensor>): void {
    for (const [k, v] of this.values) into[k] = v;
  }

  update(outputs: Record<string, Tensor>): void {
    for (const n of this.names) {
      this.values.set(n.param, outputs[n.paramOut]);
      this.values.set(n.m, outputs[n.mOut]);
      this.values.set(n.v, outputs[n.vOut]);
    }
  }

  /** trainable tensors only (what export and eval need) */
  params(): Map<string, Tensor> {
    return new Map(this.names.map((n) => [n.param, this.values.get(n.param)!]));
  }
}
