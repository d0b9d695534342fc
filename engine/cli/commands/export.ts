/**
 * `attune export --run <runDir> --out <dir> [--positive CLASS --sensitivity X | --specificity X] [--refer-below X]
 * [--json]`
 */
import { exportRun } from '../../api';
import { AttuneError } from '../../errors';
import { num, parseFlags, rejectUnknown, required, str } from '../args';
import { eventPrinter } from '../events-printer';
import { formatEstimate } from '../../evaluate/intervals';

const USAGE = `usage: attune export --run <runDir> --out <dir> [--json]
  [--positive CLASS (--sensitivity X | --specificity X)]  decision threshold for CLASS fitted on val, reported on test
  [--refer-below X]                                        refer images whose top probability is below X (0–1)`;

export const exportCommand = {
  name: 'export',
  usage: USAGE,
  summary: 'write model.onnx, model-image.onnx, labels.txt and a model card for a trained run',
  async run(argv: string[]): Promise<number> {
    const p = parseFlags(argv, new Set(['json']));
    rejectUnknown(p, new Set(['run', 'out', 'json', 'positive', 'sensitivity', 'specificity', 'refer-below']), USAGE);
    const json = p.flags.has('json');
    const positive = str(p, 'positive');
    const sens = num(p, 'sensitivity', { min: 0, max: 1 });
    const spec = num(p, 'specificity', { min: 0, max: 1 });
    if (positive && (sens === undefined) === (spec === undefined))
      throw new AttuneError('usage', '--positive needs exactly one of --sensitivity or --specificity.', USAGE);
    if (!positive && (sens !== undefined || spec !== undefined))
      throw new AttuneError('usage', '--sensitivity and --specificity need --positive CLASS.', USAGE);
    const operatingPoint: NonNullable<Parameters<typeof exportRun>[2]>['operatingPoint'] = positive
      ? {
          positiveClass: positive,
          metric: sens !== undefined ? 'sensitivity' : 'specificity',
          atLeast: (sens ?? spec)!,
        }
      : undefined;
    const printer = eventPrinter(json);
    const r = await exportRun(required(p, 'run', USAGE), required(p, 'out', USAGE), {
      onEvent: json ? undefined : printer.sink,
      operatingPoint,
      referBelow: num(p, 'refer-below', { min: 0, max: 1 }),
    });
    if (json) process.stdout.write(JSON.stringify({ type: 'export', ...r }) + '\n');
    else {
      console.log(`wrote ${r.files.join(', ')}`);
      if (r.verification)
        console.log(
          `verified: ${r.verification.images} image(s), max |Δp| ${r.verification.maxAbsDiff.toExponential(1)}`,
        );
      if (r.imageModel && 'skipped' in r.imageModel) console.log(`no model-image.onnx: ${r.imageModel.skipped}`);
      const op = r.operatingPoint;
      if (op?.reported) {
        const target = `fitted on val for ${op.target.metric} ≥ ${op.target.atLeast}`;
        const onTest = `sensitivity ${formatEstimate(op.reported.sensitivity)}, specificity ${formatEstimate(op.reported.specificity)}`;
        console.log(
          `operating point: ${op.positiveClass} when p ≥ ${op.threshold.toFixed(4)} (${target}); on test ${onTest}`,
        );
      }
    }
    return 0;
  },
};
