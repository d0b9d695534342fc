/**
 * `attune apply-patch --model <backbone.onnx> --patch <gps-patch.bin> --out <model.onnx> [--json]`: rebuilds a GPS
 * export from the pretrained backbone.
 */
import { applyGpsPatch } from '../../export/apply-gps-patch';
import { saveModel } from '../../onnx/io';
import { parseFlags, rejectUnknown, required } from '../args';

const USAGE = 'usage: attune apply-patch --model <backbone.onnx> --patch <gps-patch.bin> --out <model.onnx> [--json]';

export const applyPatchCommand = {
  name: 'apply-patch',
  usage: USAGE,
  summary: 'rebuild a GPS-trained model from the pretrained backbone and its sparse patch',
  async run(argv: string[]): Promise<number> {
    const p = parseFlags(argv, new Set(['json']));
    rejectUnknown(p, new Set(['model', 'patch', 'out', 'json']), USAGE);
    const out = required(p, 'out', USAGE);
    const model = await applyGpsPatch(required(p, 'model', USAGE), required(p, 'patch', USAGE));
    await saveModel(model, out);
    if (p.flags.has('json')) process.stdout.write(JSON.stringify({ type: 'apply-patch', modelPath: out }) + '\n');
    else console.log(`wrote ${out}`);
    return 0;
  },
};
