/** Model card (README.md beside model.onnx): what the model is for, how it was made, how well it did, how it fails. */
import type { EvaluationReport } from '../evaluate/metrics';
import { formatEstimate } from '../evaluate/intervals';
import { roughWarning } from '../evaluate/summary';
import type { CoveragePoint, OperatingPoint } from '../evaluate/roc';
import type { CalibrationSummary } from '../evaluate/calibration';
import type { RunSpec } from '../run/spec';
import { describeValues, inputChannels } from '../preprocessing';
import type { ImageModelCheck } from './model-image';

/** What training wrote to evaluation.json (older runs lack the later fields). */
export interface SavedEvaluation {
  test?: EvaluationReport;
  val?: EvaluationReport;
  calibration?: CalibrationSummary;
  selectedBy?: string;
  balance?: string;
}

const pct = (x: number | undefined) => (x === undefined ? 'n/a' : `${(x * 100).toFixed(1)} %`);

export interface CardExtras {
  operatingPoint?: OperatingPoint;
  /** the "refer below confidence X" rule measured on test */
  referral?: CoveragePoint;
  imageModelCheck?: ImageModelCheck;
  imageModelSkipped?: string;
}

function evaluationSection(test: EvaluationReport): string {
  if (!test.estimates) {
    // evaluation.json from before intervals existed
    return `Accuracy ${pct(test.accuracy)}, balanced accuracy ${pct(test.balancedAccuracy)}, macro F1 ${test.macroF1.toFixed(3)} on ${test.count} images (no intervals: retrain to get them).`;
  }
  const rows = test.perClass
    .map(
      (c) =>
        `| ${c.name} | ${c.support} | ${formatEstimate(c.recallEstimate)} | ${formatEstimate(c.precisionEstimate)} | ${formatEstimate(c.specificity)} | ${c.auc ? `${c.auc.value.toFixed(3)} (${c.auc.note ? 'no interval: ' + c.auc.note : `${c.auc.lower.toFixed(3)}–${c.auc.upper.toFixed(3)}`})` : 'n/a'} |`,
    )
    .join('\n');
  const warn = roughWarning(test);
  return `On ${test.count} held-out test images (95 % intervals: Wilson for proportions, stratified bootstrap for the others):

- Accuracy ${formatEstimate(test.estimates.accuracy)}
- Balanced accuracy ${formatEstimate(test.estimates.balancedAccuracy)}
- Macro F1 ${formatEstimate(test.estimates.macroF1)}
${warn ? `\n**${warn}**\n` : ''}
| class | test images | recall (sensitivity) | precision | specificity | AUC (one-vs-rest) |
|---|---|---|---|---|---|
${rows}`;
}

function failureSection(test: EvaluationReport): string {
  if (!test.topConfusions?.length) return 'No test image was misclassified.';
  return `The confusions it makes most often on the test split:

${test.topConfusions.map((x) => `- \`${x.trueClass}\` taken for \`${x.predictedClass}\`: ${x.count} of ${x.ofClass} ${x.trueClass} images`).join('\n')}

${test.perClass
  .filter((c) => c.support && c.recall < 0.8)
  .map(
    (c) =>
      `- It misses ${c.support - Math.round(c.recall * c.support)} of ${c.support} \`${c.name}\` images (recall ${pct(c.recall)}).`,
  )
  .join('\n')}`.trim();
}

export function modelCard(
  spec: RunSpec,
  methodTitle: string,
  facts: Record<string, unknown>,
  evaluation: SavedEvaluation,
  verifiedDiff: number,
  extras: CardExtras = {},
): string {
  const p = spec.preprocessing;
  const test = evaluation.test;
  const cal = evaluation.calibration;
  const op = extras.operatingPoint;
  const refer = extras.referral;
  const channels = inputChannels(p);
  const resizeText =
    p.resize === 'shorter-crop'
      ? `shorter side resized to ${Math.max(p.resizeTo, p.size)} (bilinear, antialiased), centre crop ${p.size}`
      : p.resize;
  const preText = `${resizeText}, values (x − mean)/std with mean ${JSON.stringify(p.mean)} and std ${JSON.stringify(p.std)}, x in [0, 1]`;
  return `# ${spec.classes.length}-class image classifier (Attune)

Fine-tuned from \`${spec.backbone.path.split(/[\\/]/).pop()}\` (sha256 \`${spec.backbone.sha256.slice(0, 16)}…\`) with **${methodTitle}** on \`${spec.data.root}\`.

## Intended use
Classifies images like those it was trained on into: ${spec.classes.map((c) => `\`${c}\``).join(', ')}.
It was evaluated only on held-out images of the same collection; check it on your own data before relying on it,
and do not use it for decisions about individual patients without clinical validation.

## Input and output
- \`model.onnx\`: input \`float32\` [batch, ${channels}, ${p.size}, ${p.size}], ${channels === 3 ? `RGB, ${preText}` : `${channels} spectral bands in file order, ${resizeText}, each band standardised with the training statistics`}.
- Value mapping (before resizing, in float): ${describeValues(p.values)}.${p.values.bands?.scaling ? ' The fitted per-band statistics are in the metadata (`attune.preprocessing` → values.bands.scaling).' : ''}
${
  extras.imageModelCheck
    ? `- \`model-image.onnx\` (the file to deploy for 8-bit photos): input \`uint8\` [batch, height, width, 3], decoded 8-bit RGB pixels of any size (one size per batch); it resizes, crops and normalises inside the graph (ONNX opset 18, Resize with antialias). Grey-scale images go in as three equal channels. Checked against Attune's own preprocessing on ${extras.imageModelCheck.images} images: same top class on ${pct(extras.imageModelCheck.top1Agreement)}, max probability difference ${extras.imageModelCheck.maxProbabilityDiff.toExponential(1)}.`
    : `- No \`model-image.onnx\`: ${extras.imageModelSkipped ?? 'not built'}. Deploy \`model.onnx\` and reproduce the preprocessing and value mapping above (both are in its metadata; \`attune predict\` applies them to DICOM, 16-bit and GeoTIFF files).`
}
- Output \`probabilities\` [batch, ${spec.classes.length}] in the order of \`labels.txt\`${cal && cal.temperature !== 1 ? ', calibrated (see below)' : ''}.
- The same preprocessing is recorded in the model's metadata (\`attune.preprocessing\`).

## Training
Method: ${methodTitle} ${
    Object.keys(facts).length
      ? `(${Object.entries(facts)
          .map(([k, v]) => `${k}: ${v}`)
          .join(', ')})`
      : ''
  }; epochs ${spec.hyper.epochs}, batch ${spec.hyper.batch}, learning rate ${spec.hyper.lr}, optimizer ${spec.hyper.optimizer}, seed ${spec.seed}.
Class imbalance: ${spec.balance === 'weights' ? 'class-weighted loss' : spec.balance === 'sampling' ? 'class-balanced sampling' : 'not corrected'}. Best epoch chosen by validation ${spec.selectBy.replace('-', ' ')}.

## Evaluation (held-out test split)
${test ? evaluationSection(test) : 'No test split was available.'}

## Calibration
${
  cal
    ? `Temperature scaling: T = ${cal.temperature.toFixed(3)} fitted on ${cal.count} validation images (NLL ${cal.nllBefore.toFixed(3)} → ${cal.nllAfter.toFixed(3)}), folded into the exported graph (softmax(logits / T)).${cal.test ? ` Expected calibration error on test: ${pct(cal.test.eceBefore)} before, ${pct(cal.test.eceAfter)} after.` : ''}`
    : 'Not calibrated (no validation split, or a run from before calibration).'
}

## Operating point
${
  op
    ? `Positive class \`${op.positiveClass}\`: say "${op.positiveClass}" when p(${op.positiveClass}) ≥ ${op.threshold.toFixed(4)}, chosen on the validation split for ${op.target.metric} ≥ ${pct(op.target.atLeast)} (there: sensitivity ${formatEstimate(op.fitted.sensitivity)}, specificity ${formatEstimate(op.fitted.specificity)}).${op.reported ? ` On the untouched test split: sensitivity ${formatEstimate(op.reported.sensitivity)}, specificity ${formatEstimate(op.reported.specificity)}.` : ''} Stored in the metadata (\`attune.operating_point\`).`
    : 'None chosen: the model answers with its top class (argmax).'
}
${refer ? `\nReferral: images whose top probability is below ${pct(refer.referBelow)} are referred to a person (\`attune.refer_below\`). On test that leaves ${pct(refer.coverage)} of images answered (${refer.answered}), with accuracy ${formatEstimate(refer.accuracy)}.\n` : ''}
## How it fails
${test ? failureSection(test) : 'No test split was available.'}

Export check: \`model.onnx\` reproduces the training engine's (calibrated) probabilities to within ${verifiedDiff.toExponential(1)} (max abs difference).
`;
}
