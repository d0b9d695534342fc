/** `attune apply-patch`: rebuilds a GPS export from the pretrained backbone and its sparse patch, byte for byte. */
import { readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { attachHead, HEAD_BIAS, HEAD_WEIGHT, withProbabilities } from '../backbone/prepare';
import { loadBackbone } from '../backbone/load';
import { AttuneError } from '../errors';
import type { Model } from '../ir/graph';
import { decodePatch } from '../methods/gps/patch';

/** Rebuilds the exported model from the pretrained backbone file and a patch. */
export async function applyGpsPatch(backbonePath: string, patchPath: string): Promise<Model> {
  const patch = decodePatch(new Uint8Array(await readFile(patchPath)));
  const bytes = await readFile(backbonePath);
  const sha = createHash('sha256').update(bytes).digest('hex');
  if (patch.header.backboneSha256 && sha !== patch.header.backboneSha256)
    throw new AttuneError(
      'patch-backbone',
      `This patch was made for a different backbone (sha256 ${patch.header.backboneSha256.slice(0, 12)}…, this file is ${sha.slice(0, 12)}…).`,
      'Pass the exact pretrained model the run was trained from.',
    );
  const bb = await loadBackbone(backbonePath);
  const f = patch.header.features;
  const head = { weight: patch.dense.get(HEAD_WEIGHT)!, bias: patch.dense.get(HEAD_BIAS)! };
  const prepared = attachHead(bb.model, f, bb.shapes.get(f.source)!.dims, patch.header.numClasses, 0, head);
  const init = prepared.model.graph.initializers;
  for (const [name, s] of patch.sparse) {
    const w0 = init.get(name);
    if (!w0)
      throw new AttuneError(
        'patch-mismatch',
        `The backbone has no weight called ${name}.`,
        'Pass the pretrained model the run was trained from.',
      );
    const data = new Float32Array(w0.data as Float32Array);
    s.offsets.forEach((o, i) => (data[o] = s.values[i]));
    init.set(name, { dtype: 'float32', dims: [...w0.dims], data });
  }
  for (const [name, t] of patch.dense) if (init.has(name)) init.set(name, t);
  // the export's temperature (calibration) is in its metadata, which the patch carries
  const calibration = patch.header.metadata['attune.calibration'];
  const temperature = calibration ? (JSON.parse(calibration) as { temperature: number }).temperature : 1;
  const model = withProbabilities(prepared.model, patch.header.numClasses, temperature);
  model.metadata = { ...patch.header.metadata };
  model.producer = patch.header.producer;
  return model;
}
