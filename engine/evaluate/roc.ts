/**
 * One-vs-rest ROC curves and AUC per class, a decision threshold for a chosen positive class fitted on one
 * split and reported on another (operating points for medical use), and the coverage–accuracy curve that a
 * "refer below confidence X" rule reads from.
 */
import { wilson, type Estimate } from './intervals';

export interface RocPoint {
  threshold: number;
  /** sensitivity */
  tpr: number;
  /** 1 − specificity */
  fpr: number;
}

/** Scores of class `c` for `rows` (all rows when omitted), from row-major probabilities [n, C]. */
function columnOf(probs: ArrayLike<number>, C: number, c: number, rows: ArrayLike<number>): Float64Array {
  return Float64Array.from({ length: rows.length }, (_, i) => probs[rows[i] * C + c]);
}

const allRows = (n: number) => Int32Array.from({ length: n }, (_, i) => i);

/** ROC curve of scores against binary truth: one point per distinct threshold, from (0,0) to (1,1). */
export function rocCurve(scores: ArrayLike<number>, positive: ArrayLike<boolean>): RocPoint[] {
  const n = scores.length;
  const order = [...Array(n).keys()].sort((a, b) => scores[b] - scores[a]);
  let P = 0;
  for (let i = 0; i < n; i++) if (positive[i]) P++;
  const N = n - P;
  const pts: RocPoint[] = [{ threshold: Infinity, tpr: 0, fpr: 0 }];
  let tp = 0;
  let fp = 0;
  for (let i = 0; i < n; i++) {
    if (positive[order[i]]) tp++;
    else fp++;
    if (i === n - 1 || scores[order[i + 1]] !== scores[order[i]])
      pts.push({ threshold: scores[order[i]], tpr: P ? tp / P : 0, fpr: N ? fp / N : 0 });
  }
  return pts;
}

/** Area under the ROC curve as the Mann–Whitney statistic (ties count ½); NaN without both kinds of case. */
export function auc(scores: ArrayLike<number>, positive: ArrayLike<boolean>): number {
  const n = scores.length;
  const order = [...Array(n).keys()].sort((a, b) => scores[a] - scores[b]);
  let P = 0;
  let rankSum = 0;
  for (let i = 0; i < n;) {
    let j = i;
    while (j + 1 < n && scores[order[j + 1]] === scores[order[i]]) j++;
    const midRank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++)
      if (positive[order[k]]) {
        P++;
        rankSum += midRank;
      }
    i = j + 1;
  }
  const N = n - P;
  if (!P || !N) return NaN;
  return (rankSum - (P * (P + 1)) / 2) / (P * N);
}

/** AUC of class `c` one-vs-rest over the given rows. */
export function classAuc(
  probs: ArrayLike<number>,
  labels: ArrayLike<number>,
  C: number,
  c: number,
  rows: ArrayLike<number> = allRows(labels.length),
): number {
  const scores = columnOf(probs, C, c, rows);
  const pos = Array.from({ length: rows.length }, (_, i) => labels[rows[i]] === c);
  return auc(scores, pos);
}

export function classRoc(probs: ArrayLike<number>, labels: ArrayLike<number>, C: number, c: number): RocPoint[] {
  const rows = allRows(labels.length);
  return rocCurve(
    columnOf(probs, C, c, rows),
    Array.from(rows, (i) => labels[i] === c),
  );
}

/** Sensitivity and specificity of "positive when p(class) ≥ threshold", with counts and Wilson intervals. */
export interface ThresholdResult {
  threshold: number;
  sensitivity: Estimate;
  specificity: Estimate;
}

export function atThreshold(
  probs: ArrayLike<number>,
  labels: ArrayLike<number>,
  C: number,
  positiveClass: number,
  threshold: number,
): ThresholdResult {
  let tp = 0;
  let P = 0;
  let tn = 0;
  let N = 0;
  for (let i = 0; i < labels.length; i++) {
    const isPos = labels[i] === positiveClass;
    const says = probs[i * C + positiveClass] >= threshold;
    if (isPos) {
      P++;
      if (says) tp++;
    } else {
      N++;
      if (!says) tn++;
    }
  }
  return { threshold, sensitivity: wilson(tp, P), specificity: wilson(tn, N) };
}

export interface OperatingPoint {
  positiveClass: string;
  /** the requirement the user set, e.g. sensitivity ≥ 0.95 */
  target: { metric: 'sensitivity' | 'specificity'; atLeast: number };
  threshold: number;
  /** where the threshold was fitted */
  fitted: ThresholdResult & { split: string };
  /** where it is reported: an untouched split */
  reported?: ThresholdResult & { split: string };
}

/**
 * The threshold on p(positive) that meets the target on the fitting split with the best other figure:
 * for sensitivity ≥ s, the highest threshold whose sensitivity is still ≥ s (most specific).
 */
export function fitThreshold(
  probs: ArrayLike<number>,
  labels: ArrayLike<number>,
  C: number,
  positiveClass: number,
  target: OperatingPoint['target'],
): number {
  const candidates = [...new Set(Array.from({ length: labels.length }, (_, i) => probs[i * C + positiveClass]))].sort(
    (a, b) => b - a,
  );
  const meets = (t: number) => {
    const r = atThreshold(probs, labels, C, positiveClass, t);
    return (target.metric === 'sensitivity' ? r.sensitivity : r.specificity).value >= target.atLeast;
  };
  if (target.metric === 'sensitivity') {
    // thresholds in descending order: sensitivity only grows, so the first that meets the target is the most specific
    for (const t of candidates) if (meets(t)) return t;
    return 0;
  }
  // specificity shrinks as the threshold falls: the lowest threshold that still meets it is the most sensitive
  let best = 1 + Number.EPSILON;
  for (const t of candidates) {
    if (meets(t)) best = t;
    else break;
  }
  return best;
}

export function operatingPoint(
  classes: string[],
  positiveClass: number,
  target: OperatingPoint['target'],
  fit: { split: string; probs: ArrayLike<number>; labels: ArrayLike<number> },
  report?: { split: string; probs: ArrayLike<number>; labels: ArrayLike<number> },
): OperatingPoint {
  const C = classes.length;
  const threshold = fitThreshold(fit.probs, fit.labels, C, positiveClass, target);
  return {
    positiveClass: classes[positiveClass],
    target,
    threshold,
    fitted: { split: fit.split, ...atThreshold(fit.probs, fit.labels, C, positiveClass, threshold) },
    ...(report
      ? { reported: { split: report.split, ...atThreshold(report.probs, report.labels, C, positiveClass, threshold) } }
      : {}),
  };
}

export interface CoveragePoint {
  /** images whose top probability is below this are referred to a person */
  referBelow: number;
  /** share of images the model still answers */
  coverage: number;
  answered: number;
  /** accuracy on the answered images, with its interval */
  accuracy: Estimate;
}

/** Coverage and accuracy when images with top probability below x are referred, for x on a grid. */
export function coverageCurve(
  probs: ArrayLike<number>,
  labels: ArrayLike<number>,
  C: number,
  grid = Array.from({ length: 20 }, (_, i) => i / 20),
): CoveragePoint[] {
  const n = labels.length;
  const conf = new Float64Array(n);
  const right = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < C; c++) if (probs[i * C + c] > probs[i * C + best]) best = c;
    conf[i] = probs[i * C + best];
    right[i] = best === labels[i] ? 1 : 0;
  }
  return grid.map((x) => {
    let answered = 0;
    let correct = 0;
    for (let i = 0; i < n; i++)
      if (conf[i] >= x) {
        answered++;
        correct += right[i];
      }
    return { referBelow: x, coverage: n ? answered / n : 0, answered, accuracy: wilson(correct, answered) };
  });
}
