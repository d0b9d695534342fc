/**
 * What a method costs on the user's machine: the backbone's forward speed measured here, on the CPU, times the
 * method's declared relative cost (Method.relativeCost, forward-pass equivalents per image and epoch).
 */
import type { Model } from '../ir/graph';
import { tensor } from '../ir/tensor';
import { createSession } from '../runtime/session';

/** Images per second of one forward pass at `batch`, timed after a warm-up run (onnxruntime, CPU). */
export async function forwardImagesPerSecond(model: Model, batch = 4, runs = 2): Promise<number> {
  const inp = model.graph.inputs[0];
  const dims = [batch, ...inp.shape.slice(1).map((d) => (typeof d === 'number' ? d : 1))];
  const session = await createSession(model, { provider: 'cpu' });
  try {
    const feeds = { [inp.name]: tensor('float32', dims) };
    await session.run(feeds);
    const t0 = performance.now();
    for (let i = 0; i < runs; i++) await session.run(feeds);
    return (batch * runs * 1000) / Math.max(1e-3, performance.now() - t0);
  } finally {
    await session.release();
  }
}

/** Seconds for one training epoch of `images` images: forward-pass equivalents over the measured forward speed. */
export const secondsPerEpoch = (images: number, relativeCost: number, forwardRate: number): number =>
  (images * relativeCost) / forwardRate;
