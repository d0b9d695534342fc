/** `attune predict --model <model.onnx> [--json] [--top K] <image files…>` */
import { predictWithModel } from '../../api';
import type { ProviderRequest } from '../../runtime/providers';
import { num, parseFlags, rejectUnknown, required, str, VALUE_FLAGS, VALUE_USAGE, valueOptions } from '../args';
import { AttuneError } from '../../errors';

const USAGE = `usage: attune predict --model <model.onnx> [--json] [--top K] [--provider auto|cpu|…] ${VALUE_USAGE} <image files…>
  (window, offset and bands default to what the model records)`;

export const predictCommand = {
  name: 'predict',
  usage: USAGE,
  summary: 'classify images with an exported model (or any ONNX classifier)',
  async run(argv: string[]): Promise<number> {
    const p = parseFlags(argv, new Set(['json']));
    rejectUnknown(p, new Set(['model', 'json', 'top', 'provider', ...VALUE_FLAGS]), USAGE);
    if (!p.positionals.length) throw new AttuneError('usage', 'No image files given.', USAGE);
    const json = p.flags.has('json');
    let failed = 0;
    const preds = await predictWithModel(required(p, 'model', USAGE), p.positionals, {
      topK: num(p, 'top', { integer: true, min: 1 }),
      provider: str(p, 'provider') as ProviderRequest | undefined,
      ...valueOptions(p),
      onError: (file, e) => {
        failed++;
        if (json) process.stdout.write(JSON.stringify({ file, error: e.message, hint: e.hint }) + '\n');
        else console.error(`${file}: ${e.message} ${e.hint}`);
      },
    });
    for (const r of preds) {
      if (json) process.stdout.write(JSON.stringify(r) + '\n');
      else console.log(`${r.file}\t${r.label}\t${(r.probability * 100).toFixed(1)}%`);
    }
    return failed ? 1 : 0;
  },
};
