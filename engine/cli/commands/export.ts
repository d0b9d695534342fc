/** `attune export --run <runDir> --out <dir> [--json]` */
import { exportRun } from '../../export/export';
import { parseFlags, rejectUnknown, required } from '../args';
import { eventPrinter } from '../events-printer';

const USAGE = 'usage: attune export --run <runDir> --out <dir> [--json]';

export const exportCommand = {
  name: 'export',
  usage: USAGE,
  summary: 'write model.onnx, labels.txt and a model card for a trained run',
  async run(argv: string[]): Promise<number> {
    const p = parseFlags(argv, new Set(['json']));
    rejectUnknown(p, new Set(['run', 'out', 'json']), USAGE);
    const json = p.flags.has('json');
    const printer = eventPrinter(json);
    const r = await exportRun(required(p, 'run', USAGE), required(p, 'out', USAGE), { onEvent: json ? undefined : printer.sink });
    if (json) process.stdout.write(JSON.stringify({ type: 'export', ...r }) + '\n');
    else console.log(`wrote ${r.modelPath}, ${r.labelsPath}, ${r.cardPath}${r.extraFiles.length ? ', ' + r.extraFiles.join(', ') : ''}`);
    return 0;
  },
};
