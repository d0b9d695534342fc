/** `attune explain --model <model.onnx> [--out dir] [--class K] [--json] <image files…>`: Grad-CAM heatmaps. */
import { explainImages } from '../../api';
import { AttuneError } from '../../errors';
import { num, parseFlags, rejectUnknown, required, str } from '../args';

const USAGE = `usage: attune explain --model <model.onnx> [--out <dir>] [--class K] [--json] <image files…>
  Grad-CAM on the exported model (computed by Attune's autodiff): writes <dir>/NNN-<image>-gradcam.png overlays.
  --class K explains class index K instead of the predicted class.`;

export const explainCommand = {
  name: 'explain',
  usage: USAGE,
  summary: 'heatmaps of what an exported model looked at (Grad-CAM), as PNG overlays',
  async run(argv: string[]): Promise<number> {
    const p = parseFlags(argv, new Set(['json']));
    rejectUnknown(p, new Set(['model', 'out', 'class', 'json']), USAGE);
    if (!p.positionals.length) throw new AttuneError('usage', 'No image files given.', USAGE);
    const json = p.flags.has('json');
    let failed = 0;
    const res = await explainImages({ modelPath: required(p, 'model', USAGE) }, p.positionals, {
      outDir: str(p, 'out'),
      classIndex: num(p, 'class', { integer: true, min: 0 }),
      onError: (file, e) => {
        failed++;
        if (json) process.stdout.write(JSON.stringify({ file, error: e.message, hint: e.hint }) + '\n');
        else console.error(`${file}: ${e.message} ${e.hint}`);
      },
    });
    for (const r of res) {
      if (json) process.stdout.write(JSON.stringify(r) + '\n');
      else
        console.log(
          `${r.file}\t${r.label}\t${(r.probability * 100).toFixed(1)}%${r.overlayPath ? `\t${r.overlayPath}` : ''}`,
        );
    }
    return failed ? 1 : 0;
  },
};
