/**
 * Honest evaluation: accuracy, balanced accuracy, per-class precision/recall/F1, confusion matrix, calibration,
 * each with the count it rests on and a 95 % interval; one-vs-rest ROC/AUC; coverage when unsure images are referred.
 */
import { stratifiedBootstrap, wilson, type Estimate } from './intervals';
import { classAuc, classRoc, coverageCurve, type CoveragePoint, type RocPoint } from './roc';

export type { Estimate } from './intervals';

/** Below this many test images in some class, the app and the card say the figures are rough. */
export const ROUGH_BELOW_PER_CLASS = 30;

export interface ClassMetrics {
  name: string;
  support: number;
  precision: number;
  recall: number;
  f1: number;
  /** predictions of this class (precision's denominator) */
  predicted: number;
  /** recall = sensitivity, with its count and Wilson interval */
  recallEstimate: Estimate;
  precisionEstimate: Estimate;
  /** one-vs-rest specificity */
  specificity: Estimate;
  /** one-vs-rest AUC with a stratified-bootstrap interval (null when the class is absent) */
  auc: Estimate | null;
}

export interface CalibrationBin {
  lower: number;
  upper: number;
  count: number;
  /** mean confidence of the predictions in the bin */
  confidence: number;
  accuracy: number;
}

export interface Misclassified {
  file: string;
  label: number;
  predicted: number;
  confidence: number;
}

export interface EvaluationReport {
  split: string;
  count: number;
  accuracy: number;
  balancedAccuracy: number;
  macroF1: number;
  loss: number;
  perClass: ClassMetrics[];
  /** confusion[true][predicted] */
  confusion: number[][];
  calibration: CalibrationBin[];
  /** expected calibration error over the bins */
  ece: number;
  misclassified: Misclassified[];
  /** accuracy as k/n with a Wilson interval; balanced accuracy, macro-F1 with stratified-bootstrap intervals */
  estimates: { accuracy: Estimate; balancedAccuracy: Estimate; macroF1: Estimate };
  /** one-vs-rest ROC curve per class, in class order */
  roc: { name: string; points: RocPoint[] }[];
  /** coverage and accuracy when images below a confidence are referred to a person */
  coverage: CoveragePoint[];
  /** the confusions that happen most, largest first (off-diagonal cells of the confusion matrix) */
  topConfusions: { trueClass: string; predictedClass: string; count: number; ofClass: number }[];
  /** the smallest class count in this split, and whether that makes the figures rough (< 30 per class) */
  minClassSupport: number;
  rough: boolean;
}

/** Balanced accuracy and macro-F1 of predictions over a subset of rows (present classes only). */
function summaryOver(
  pred: Int32Array,
  labels: ArrayLike<number>,
  C: number,
  rows: ArrayLike<number>,
): { balancedAccuracy: number; macroF1: number } {
  const tp = new Float64Array(C);
  const support = new Float64Array(C);
  const predicted = new Float64Array(C);
  for (let r = 0; r < rows.length; r++) {
    const i = rows[r];
    support[labels[i]]++;
    predicted[pred[i]]++;
    if (pred[i] === labels[i]) tp[labels[i]]++;
  }
  let present = 0;
  let rec = 0;
  let f1 = 0;
  for (let c = 0; c < C; c++) {
    if (!support[c]) continue;
    present++;
    const r = tp[c] / support[c];
    const p = predicted[c] ? tp[c] / predicted[c] : 0;
    rec += r;
    f1 += p + r ? (2 * p * r) / (p + r) : 0;
  }
  return { balancedAccuracy: present ? rec / present : 0, macroF1: present ? f1 / present : 0 };
}

/** `probs` is row-major [n, C]. */
export function evaluatePredictions(
  split: string,
  classes: string[],
  probs: Float32Array,
  labels: ArrayLike<number>,
  files: string[],
  bins = 10,
  opts: { resamples?: number } = {},
): EvaluationReport {
  const C = classes.length;
  const n = labels.length;
  const confusion = classes.map(() => new Array<number>(C).fill(0));
  const calib = Array.from({ length: bins }, (_, i) => ({
    lower: i / bins,
    upper: (i + 1) / bins,
    count: 0,
    conf: 0,
    correct: 0,
  }));
  const misclassified: Misclassified[] = [];
  let correct = 0;
  let loss = 0;
  const pred = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < C; c++) if (probs[i * C + c] > probs[i * C + best]) best = c;
    pred[i] = best;
    const y = labels[i];
    const conf = probs[i * C + best];
    confusion[y][best]++;
    if (best === y) correct++;
    else misclassified.push({ file: files[i], label: y, predicted: best, confidence: conf });
    loss -= Math.log(Math.max(probs[i * C + y], 1e-12));
    const bin = calib[Math.min(bins - 1, Math.floor(conf * bins))];
    bin.count++;
    bin.conf += conf;
    bin.correct += best === y ? 1 : 0;
  }
  // fewer resamples for big test sets: the per-class AUC bootstrap sorts n scores per resample and class
  const boot = { resamples: opts.resamples ?? (n * C > 20000 ? 200 : 1000), seed: 20240611 };
  const perClass: ClassMetrics[] = classes.map((name, c) => {
    const tp = confusion[c][c];
    const support = confusion[c].reduce((a, b) => a + b, 0);
    const predicted = confusion.reduce((a, row) => a + row[c], 0);
    const precision = predicted ? tp / predicted : 0;
    const recall = support ? tp / support : 0;
    const negatives = n - support;
    const falsePositives = predicted - tp;
    const aucValue =
      support && negatives ? stratifiedBootstrap(labels, (rows) => classAuc(probs, labels, C, c, rows), boot) : null;
    return {
      name,
      support,
      precision,
      recall,
      f1: precision + recall ? (2 * precision * recall) / (precision + recall) : 0,
      predicted,
      recallEstimate: wilson(tp, support),
      precisionEstimate: wilson(tp, predicted),
      specificity: wilson(negatives - falsePositives, negatives),
      auc: aucValue,
    };
  });
  const topConfusions = confusion
    .flatMap((row, t) =>
      row.map((count, p) => ({
        trueClass: classes[t],
        predictedClass: classes[p],
        count,
        ofClass: perClass[t].support,
        off: t !== p,
      })),
    )
    .filter((x) => x.off && x.count > 0)
    .sort((a, b) => b.count - a.count)
    .slice(0, 5)
    .map(({ off: _off, ...x }) => x);
  const minClassSupport = Math.min(...perClass.map((p) => p.support));
  const present = perClass.filter((p) => p.support > 0);
  const calibration = calib.map((b) => ({
    lower: b.lower,
    upper: b.upper,
    count: b.count,
    confidence: b.count ? b.conf / b.count : 0,
    accuracy: b.count ? b.correct / b.count : 0,
  }));
  misclassified.sort((a, b) => b.confidence - a.confidence);
  return {
    split,
    count: n,
    accuracy: n ? correct / n : 0,
    balancedAccuracy: present.length ? present.reduce((a, p) => a + p.recall, 0) / present.length : 0,
    macroF1: present.length ? present.reduce((a, p) => a + p.f1, 0) / present.length : 0,
    loss: n ? loss / n : 0,
    perClass,
    confusion,
    calibration,
    ece: n ? calibration.reduce((a, b) => a + (b.count / n) * Math.abs(b.accuracy - b.confidence), 0) : 0,
    misclassified,
    estimates: {
      accuracy: wilson(correct, n),
      balancedAccuracy: stratifiedBootstrap(
        labels,
        (rows) => summaryOver(pred, labels, C, rows).balancedAccuracy,
        boot,
      ),
      macroF1: stratifiedBootstrap(labels, (rows) => summaryOver(pred, labels, C, rows).macroF1, boot),
    },
    roc: classes.map((name, c) => ({ name, points: classRoc(probs, labels, C, c) })),
    coverage: coverageCurve(probs, labels, C),
    topConfusions,
    minClassSupport,
    rough: minClassSupport < ROUGH_BELOW_PER_CLASS,
  };
}
