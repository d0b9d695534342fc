/**
 * `attune apply-patch --model <backbone.onnx> --patch <gps-patch.bin> --out <model.onnx> [--json]`: rebuilds a GPS
 * export from the pretrained backbone.
 */
import { rebuildFromGpsPatch } from '../../api';
import { parseFlags, rejectUnknown, required } from '../args';

const USAGE = 'usage: attune apply-patch --model <backbone.onnx> --patch <gps-patch.bin> --out <model.onnx> [--json]';

export const applyPatchCommand = {
  name: 'apply-patch',
  usage: USAGE,
  summary: 'rebuild a GPS-trained model from the pretrained backbone and its sparse patch',
  async run(argv: string[]): Promise<number> {
    const p = parseFlags(argv, new Set(['json']));
    rejectUnknown(p, new Set(['model', 'patch', 'out', 'json']), USAGE);
    const out = await rebuildFromGpsPatch(
      required(p, 'model', USAGE),
      required(p, 'patch', USAGE),
      required(p, 'out', USAGE),
    );
    if (p.flags.has('json')) process.stdout.write(JSON.stringify({ type: 'apply-patch', modelPath: out }) + '\n');
    else console.log(`wrote ${out}`);
    return 0;
  },
};
