/** The model card (README.md beside model.onnx): what the model is for, how it was made, how well it did. */
import type { EvaluationReport } from '../evaluate/metrics';
import type { RunSpec } from '../run/spec';
import { describeValues, inputChannels } from '../preprocessing';

const pct = (x: number | undefined) => (x === undefined ? 'n/a' : `${(x * 100).toFixed(1)} %`);

export function modelCard(spec: RunSpec, methodTitle: string, facts: Record<string, unknown>, test: EvaluationReport | undefined, verifiedDiff: number): string {
  const p = spec.preprocessing;
  const rows = test?.perClass.map((c) => `| ${c.name} | ${c.support} | ${pct(c.precision)} | ${pct(c.recall)} | ${c.f1.toFixed(3)} |`).join('\n') ?? '';
  return `# ${spec.classes.length}-class image classifier (Attune)

Fine-tuned from \`${spec.backbone.path.split(/[\\/]/).pop()}\` (sha256 \`${spec.backbone.sha256.slice(0, 16)}…\`) with **${methodTitle}** on \`${spec.data.root}\`.

## Intended use
Classifies images like those it was trained on into: ${spec.classes.map((c) => `\`${c}\``).join(', ')}.
It was evaluated only on held-out images of the same collection; check it on your own data before relying on it,
and do not use it for decisions about individual patients without clinical validation.

## Input and output
- Input \`${'float32'}\` [batch, ${inputChannels(p)}, ${p.size}, ${p.size}], ${inputChannels(p) === 3 ? 'RGB' : `${inputChannels(p)} spectral bands in file order`}, ${p.resize === 'shorter-crop' ? `shorter side resized to ${p.resizeTo}, centre crop ${p.size}` : p.resize}, ${inputChannels(p) === 3 ? `values (x − mean)/std with mean ${JSON.stringify(p.mean)} and std ${JSON.stringify(p.std)}, x in [0, 1]` : 'each band standardised with the training statistics'}.
- Value mapping (before resizing, in float): ${describeValues(p.values)}.${p.values.bands?.scaling ? ' The fitted per-band statistics are in the metadata (`attune.preprocessing` → values.bands.scaling).' : ''}
- Output \`probabilities\` [batch, ${spec.classes.length}] in the order of \`labels.txt\`.
- The same preprocessing is recorded in the model's metadata (\`attune.preprocessing\`).

## Training
Method: ${methodTitle} ${Object.keys(facts).length ? `(${Object.entries(facts).map(([k, v]) => `${k}: ${v}`).join(', ')})` : ''}; epochs ${spec.hyper.epochs}, batch ${spec.hyper.batch}, learning rate ${spec.hyper.lr}, optimizer ${spec.hyper.optimizer}, seed ${spec.seed}.

## Evaluation (held-out test split)
${test ? `Accuracy ${pct(test.accuracy)}, balanced accuracy ${pct(test.balancedAccuracy)}, macro F1 ${test.macroF1.toFixed(3)}, expected calibration error ${test.ece.toFixed(3)} on ${test.count} images.

| class | images | precision | recall | F1 |
|---|---|---|---|---|
${rows}` : 'No test split was available.'}

Export check: this file reproduces the training engine's probabilities to within ${verifiedDiff.toExponential(1)} (max abs difference).
`;
}
