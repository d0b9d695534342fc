/** Honest evaluation: accuracy, balanced accuracy, per-class precision/recall/F1, confusion matrix, calibration. */

export interface ClassMetrics {
  name: string;
  support: number;
  precision: number;
  recall: number;
  f1: number;
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
}

/** `probs` is row-major [n, C]. */
export function evaluatePredictions(split: string, classes: string[], probs: Float32Array, labels: ArrayLike<number>, files: string[], bins = 10): EvaluationReport {
  const C = classes.length;
  const n = labels.length;
  const confusion = classes.map(() => new Array<number>(C).fill(0));
  const calib = Array.from({ length: bins }, (_, i) => ({ lower: i / bins, upper: (i + 1) / bins, count: 0, conf: 0, correct: 0 }));
  const misclassified: Misclassified[] = [];
  let correct = 0;
  let loss = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < C; c++) if (probs[i * C + c] > probs[i * C + best]) best = c;
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
  const perClass: ClassMetrics[] = classes.map((name, c) => {
    const tp = confusion[c][c];
    const support = confusion[c].reduce((a, b) => a + b, 0);
    const predicted = confusion.reduce((a, row) => a + row[c], 0);
    const precision = predicted ? tp / predicted : 0;
    const recall = support ? tp / support : 0;
    return { name, support, precision, recall, f1: precision + recall ? (2 * precision * recall) / (precision + recall) : 0 };
  });
  const present = perClass.filter((p) => p.support > 0);
  const calibration = calib.map((b) => ({ lower: b.lower, upper: b.upper, count: b.count, confidence: b.count ? b.conf / b.count : 0, accuracy: b.count ? b.correct / b.count : 0 }));
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
  };
}
