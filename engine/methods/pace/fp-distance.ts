/**
 * PACE's FP-distance diagnostic (METHODS.md §PACE): mean ‖f_ft(x) − f_pre(x)‖ of backbone features between the
 * adapted (noise off) and the pretrained network on held-out images. Opens its own CPU session once per run.
 */
import { FEATURES } from '../../backbone/prepare';
import { Builder } from '../../ir/builder';
import { foldConstants, type ShapeMap } from '../../ir/fold';
import { cloneModel, pruneDead, topoSort, type Graph, type Model } from '../../ir/graph';
import { tensor, type Tensor } from '../../ir/tensor';
import { createSession } from '../../runtime/session';
import type { HeldOutBatch } from '../method';

/** Backbone features with the adapters (noise off) and the adapter tensors as inputs, at a fixed batch. */
async function featureSession(
  prepared: Model,
  adapt: (g: Graph, b: Builder, s: ShapeMap) => void,
  trainable: string[],
  batch: number,
) {
  const m = cloneModel(prepared);
  const inp = m.graph.inputs[0];
  const dims = [batch, ...inp.shape.slice(1).map((d) => (typeof d === 'number' ? d : 1))];
  const { model, shapes } = await foldConstants(m, { [inp.name]: dims });
  const g = model.graph;
  adapt(g, new Builder(g, 'pace_fp', 'float32', model.opset), shapes);
  for (const k of trainable) {
    const t = g.initializers.get(k)!;
    g.initializers.delete(k);
    g.inputs.push({ name: k, dtype: 'float32', shape: t.dims });
  }
  const dim = shapes.get(FEATURES)!.dims[1];
  g.outputs = [{ name: FEATURES, dtype: 'float32', shape: [batch, dim] }];
  topoSort(g);
  pruneDead(g);
  const session = await createSession(model, { provider: 'cpu' });
  return {
    session,
    pre: new Map<string, Float32Array>(),
    input: inp.name,
    inputDims: dims.slice(1),
    batch,
    dim,
    trainable: trainable.filter((k) => g.inputs.some((i) => i.name === k)),
  };
}

/** FP-distance over the held-out batches; the pretrained features are computed once per batch and kept. */
export function fpDistance(
  prepared: Model,
  adapt: (g: Graph, b: Builder, s: ShapeMap) => void,
  init: Map<string, Tensor>,
  batch: number,
) {
  let fp: Awaited<ReturnType<typeof featureSession>> | undefined;
  return async (params: Map<string, Tensor>, heldOut: AsyncIterable<HeldOutBatch>): Promise<number> => {
    fp ??= await featureSession(prepared, adapt, [...init.keys()], batch);
    let sum = 0;
    let n = 0;
    for await (const bt of heldOut) {
      const x = new Float32Array(fp.batch * (bt.x.length / Math.max(1, bt.count)));
      x.set(bt.x.subarray(0, x.length));
      const feeds = (vals: (k: string) => Tensor) => {
        const f: Record<string, Tensor> = { [fp!.input]: tensor('float32', [fp!.batch, ...fp!.inputDims], x) };
        for (const k of fp!.trainable) f[k] = vals(k);
        return f;
      };
      const ft = (
        await fp.session.run(
          feeds((k) => params.get(k) ?? init.get(k)!),
          [FEATURES],
        )
      )[FEATURES].data as Float32Array;
      const key = bt.files.join('\n');
      let pre = fp.pre.get(key);
      if (!pre) {
        pre = (
          (
            await fp.session.run(
              feeds((k) => init.get(k)!),
              [FEATURES],
            )
          )[FEATURES].data as Float32Array
        ).slice();
        fp.pre.set(key, pre);
      }
      for (let i = 0; i < bt.count; i++) {
        let s = 0;
        for (let j = 0; j < fp.dim; j++) s += (ft[i * fp.dim + j] - pre[i * fp.dim + j]) ** 2;
        sum += Math.sqrt(s);
        n++;
      }
    }
    return n ? sum / n : 0;
  };
}
