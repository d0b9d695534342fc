/** `attune train --data <folder> --model <backbone.onnx> --method <name> --epochs N --out <runDir> [options]` */
import { METHODS, getMethod } from '../../methods/registry';
import { trainRun, type TrainRequest } from '../../api';
import {
  framesOption,
  labelsPath,
  num,
  parseFlags,
  rejectUnknown,
  required,
  str,
  VALUE_FLAGS,
  VALUE_USAGE,
} from '../args';
import { eventPrinter } from '../events-printer';
import type { MethodOptions } from '../../methods/method';
import { AttuneError } from '../../errors';
import { PROVIDER_REQUESTS } from '../../runtime/providers';
import type { AugmentPreset } from '../../data/image';
import { BALANCE_MODES, SELECT_BY, type BalanceMode, type SelectBy } from '../../run/spec';
import { evaluationSummary } from '../../evaluate/summary';

const TRAIN_USAGE = `usage: attune train --data <folder> --model <backbone.onnx> --method <${METHODS.map((m) => m.name).join('|')}> --out <runDir>
  [--epochs N] [--batch B] [--lr X] [--seed S] [--weight-decay X] [--warmup EPOCHS] [--label-smoothing X] [--clip-norm X|none]
  [--optimizer adamw|spd] [--spd-lambda X] [--augment none|natural|aerial|medical] [--provider ${PROVIDER_REQUESTS.join('|')}]
  [--labels file.csv --path-column c --label-column c [--group-column c]] [--split split.json] [--ratios 0.8,0.1,0.1]
  [--feature tensorName] [--steps-per-run K] [--balance none|weights|sampling] [--select-by balanced-accuracy|macro-f1|accuracy] [--json]
  ${VALUE_USAGE} [--frames middle|all]   (DICOM/16-bit window; multispectral bands; multi-frame DICOM)
  method options: ${METHODS.filter((m) => m.options.length)
    .map((m) => `${m.name}: ${m.options.map((o) => o.flag).join(' ')}`)
    .join('; ')}
Running the same command again resumes an unfinished run.`;

const BASE = [
  'data',
  'model',
  'method',
  'out',
  'epochs',
  'batch',
  'lr',
  'seed',
  'weight-decay',
  'warmup',
  'label-smoothing',
  'clip-norm',
  'optimizer',
  'spd-lambda',
  'augment',
  'provider',
  'labels',
  'path-column',
  'label-column',
  'group-column',
  'split',
  'ratios',
  'feature',
  'steps-per-run',
  'balance',
  'select-by',
  'json',
  'frames',
  ...VALUE_FLAGS,
];

export const trainCommand = {
  name: 'train',
  usage: TRAIN_USAGE,
  summary: 'fine-tune a backbone on an image folder',
  async run(argv: string[]): Promise<number> {
    // boolean method options (e.g. --pace-fast) may stand alone
    const booleans = METHODS.flatMap((m) =>
      m.options.filter((o) => o.kind === 'boolean').map((o) => o.flag.replace(/^--/, '')),
    );
    const p = parseFlags(argv, new Set(['json', ...booleans]));
    const methodName = required(p, 'method', TRAIN_USAGE);
    const method = getMethod(methodName);
    // a flag may be shared by methods (--rank: LoRA and PACE); it applies when the chosen method declares it
    const optionFlags = new Set(METHODS.flatMap((m) => m.options.map((o) => o.flag.replace(/^--/, ''))));
    rejectUnknown(p, new Set([...BASE, ...optionFlags]), TRAIN_USAGE);
    const methodOptions: MethodOptions = {};
    for (const o of method.options) {
      const key = o.flag.replace(/^--/, '');
      if (!p.flags.has(key)) continue;
      methodOptions[o.name] =
        o.kind === 'string'
          ? str(p, key)!
          : o.kind === 'boolean'
            ? p.flags.get(key) !== 'false'
            : num(p, key, { integer: o.kind === 'integer', min: o.min, max: o.max })!;
    }
    for (const k of p.flags.keys()) {
      if (optionFlags.has(k) && !method.options.some((o) => o.flag === `--${k}`))
        throw new AttuneError('usage', `--${k} does not apply to ${method.name}.`, TRAIN_USAGE);
    }
    const clip = str(p, 'clip-norm');
    const ratios = str(p, 'ratios')?.split(',').map(Number);
    const optimizer = str(p, 'optimizer') as TrainRequest['optimizer'];
    if (optimizer && optimizer !== 'adamw' && optimizer !== 'spd')
      throw new AttuneError('usage', `Unknown optimizer "${optimizer}".`, 'Use --optimizer adamw or --optimizer spd.');
    if (method.optimizer && optimizer && optimizer !== method.optimizer)
      throw new AttuneError(
        'usage',
        `--method ${method.name} trains with --optimizer ${method.optimizer}, not ${optimizer}.`,
        `Leave out --optimizer, or choose another method (e.g. --method full for AdamW).`,
      );
    if (ratios && ratios.length !== 3)
      throw new AttuneError(
        'usage',
        `--ratios takes three numbers (train,val,test), not "${str(p, 'ratios')}".`,
        'E.g. --ratios 0.8,0.1,0.1.',
      );
    const req: TrainRequest = {
      dataPath: required(p, 'data', TRAIN_USAGE),
      modelPath: required(p, 'model', TRAIN_USAGE),
      method: method.name,
      outDir: required(p, 'out', TRAIN_USAGE),
      epochs: num(p, 'epochs', { integer: true, min: 1 }),
      batchSize: num(p, 'batch', { integer: true, min: 1 }),
      learningRate: num(p, 'lr', { min: 0 }),
      seed: num(p, 'seed', { integer: true }),
      weightDecay: num(p, 'weight-decay', { min: 0 }),
      warmupEpochs: num(p, 'warmup', { min: 0 }),
      labelSmoothing: num(p, 'label-smoothing', { min: 0, max: 1 }),
      clipNorm: clip === 'none' ? null : num(p, 'clip-norm', { min: 0 }),
      optimizer,
      spdLambda: num(p, 'spd-lambda', { min: 0, max: 1 }),
      augment: str(p, 'augment') as AugmentPreset | undefined,
      provider: str(p, 'provider'),
      csvPath: labelsPath(str(p, 'labels'), required(p, 'data', TRAIN_USAGE)),
      columns: str(p, 'labels')
        ? { path: str(p, 'path-column'), label: str(p, 'label-column'), group: str(p, 'group-column') }
        : undefined,
      splitFile: str(p, 'split'),
      split: ratios ? { trainFraction: ratios[0], valFraction: ratios[1], testFraction: ratios[2] } : undefined,
      feature: str(p, 'feature'),
      stepsPerRun: num(p, 'steps-per-run', { integer: true, min: 1 }),
      balance: str(p, 'balance') as BalanceMode | undefined,
      selectBy: str(p, 'select-by') as SelectBy | undefined,
      options: methodOptions,
      window: str(p, 'window'),
      valueOffset: num(p, 'value-offset'),
      bands: str(p, 'bands'),
      frames: framesOption(str(p, 'frames')),
    };
    if (req.balance && !BALANCE_MODES.includes(req.balance))
      throw new AttuneError('usage', `Unknown --balance "${req.balance}".`, `Use ${BALANCE_MODES.join(', ')}.`);
    if (req.selectBy && !SELECT_BY.includes(req.selectBy))
      throw new AttuneError('usage', `Unknown --select-by "${req.selectBy}".`, `Use ${SELECT_BY.join(', ')}.`);
    if (req.augment && !['none', 'natural', 'aerial', 'medical'].includes(req.augment))
      throw new AttuneError(
        'usage',
        `Unknown augmentation preset "${req.augment}".`,
        'Use none, natural, aerial or medical.',
      );
    const printer = eventPrinter(p.flags.has('json'));
    const abort = new AbortController();
    const onSigint = () => {
      if (abort.signal.aborted) process.exit(130);
      console.error('\ncancelling after this step (press Ctrl-C again to quit at once)…');
      abort.abort();
    };
    process.on('SIGINT', onSigint);
    try {
      const r = await trainRun(req, { signal: abort.signal, onEvent: printer.sink });
      printer.stop();
      if (!p.flags.has('json')) {
        if (r.calibration)
          console.error(
            `calibration: temperature ${r.calibration.temperature.toFixed(3)} fitted on val (NLL ${r.calibration.nllBefore.toFixed(3)} → ${r.calibration.nllAfter.toFixed(3)})${r.calibration.test ? `; test ECE ${(r.calibration.test.eceBefore * 100).toFixed(1)} % → ${(r.calibration.test.eceAfter * 100).toFixed(1)} %` : ''}`,
          );
        if (r.test) for (const line of evaluationSummary(r.test)) console.error(line);
      }
      return r.status === 'done' ? 0 : 130;
    } finally {
      process.off('SIGINT', onSigint);
      printer.stop();
    }
  },
};
