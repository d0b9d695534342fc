/** Intervals, ROC/AUC, operating points, coverage and temperature scaling against values worked out by hand. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stratifiedBootstrap, wilson } from './intervals';
import { auc, atThreshold, coverageCurve, fitThreshold, rocCurve } from './roc';
import { fitTemperature, temperedNll, temperedSoftmax } from './calibration';
import { evaluatePredictions } from './metrics';
import { mulberry32 } from '../util/random';

const close = (a: number, b: number, tol: number, what: string) =>
  assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

test('Wilson intervals match the published values (Newcombe 1998) and are honest for tiny n', () => {
  // 81/263: 0.2553–0.3662 (Newcombe, Stat Med 1998, example)
  const a = wilson(81, 263);
  close(a.lower, 0.2553, 5e-4, 'lower');
  close(a.upper, 0.3662, 5e-4, 'upper');
  // the "accuracy 50 % from 2 images": 1/2 → 9.5 %–90.5 %
  const b = wilson(1, 2);
  close(b.lower, 0.0945, 5e-4, 'lower 1/2');
  close(b.upper, 0.9055, 5e-4, 'upper 1/2');
  // "100 % precision from 2 predictions": the interval still reaches down to 34 %
  close(wilson(2, 2).lower, 0.3424, 5e-4, 'lower 2/2');
  assert.deepEqual([wilson(0, 0).lower, wilson(0, 0).upper], [0, 1]);
});

test('AUC is the Mann–Whitney statistic with ties as ½; the ROC curve runs from (0,0) to (1,1)', () => {
  assert.equal(auc([0.9, 0.8, 0.3, 0.1], [true, true, false, false]), 1);
  assert.equal(auc([0.1, 0.2, 0.8, 0.9], [true, true, false, false]), 0);
  // one positive above one negative, tied with the other: (1 + ½) / 2
  assert.equal(auc([0.5, 0.5, 0.2], [true, false, false]), 0.75);
  assert.ok(Number.isNaN(auc([0.2, 0.3], [true, true])));
  const r = rocCurve([0.9, 0.8, 0.7, 0.1], [true, false, true, false]);
  assert.deepEqual(r[0], { threshold: Infinity, tpr: 0, fpr: 0 });
  assert.deepEqual(r.at(-1), { threshold: 0.1, tpr: 1, fpr: 1 });
  assert.deepEqual(r[2], { threshold: 0.8, tpr: 0.5, fpr: 0.5 });
});

test('a sensitivity target picks the most specific threshold that meets it on the fitting split', () => {
  // class 1 is positive; p(1) for 6 cases
  const p1 = [0.9, 0.6, 0.4, 0.35, 0.2, 0.1];
  const labels = [1, 1, 1, 0, 0, 0];
  const probs = p1.flatMap((p) => [1 - p, p]);
  const t = fitThreshold(probs, labels, 2, 1, { metric: 'sensitivity', atLeast: 0.95 });
  assert.equal(t, 0.4, 'all three positives need p ≥ 0.4');
  const r = atThreshold(probs, labels, 2, 1, t);
  assert.deepEqual([r.sensitivity.k, r.sensitivity.n, r.specificity.k, r.specificity.n], [3, 3, 3, 3]);
  const t2 = fitThreshold(probs, labels, 2, 1, { metric: 'specificity', atLeast: 0.6 });
  assert.equal(t2, 0.35, 'lowest threshold with 2 of 3 negatives below it');
});

test('coverage: referring images below a confidence answers fewer images, with their accuracy', () => {
  const probs = [0.9, 0.1, 0.6, 0.4, 0.55, 0.45, 0.2, 0.8];
  const labels = [0, 1, 0, 0];
  const c = coverageCurve(probs, labels, 2, [0, 0.58, 0.85]);
  assert.deepEqual(
    c.map((x) => x.answered),
    [4, 3, 1],
  );
  assert.deepEqual(
    c.map((x) => x.accuracy.k),
    [2, 1, 1],
  );
  close(c[1].coverage, 0.75, 1e-12, 'coverage');
});

test('temperature scaling recovers the temperature that generated the labels and never changes the argmax', () => {
  const rng = mulberry32(7);
  const n = 4000;
  const C = 3;
  const trueT = 2.5;
  const logits = new Float64Array(n * C);
  const labels: number[] = [];
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < C; c++) logits[i * C + c] = (rng() * 2 - 1) * 6;
    const p = temperedSoftmax(logits.subarray(i * C, (i + 1) * C), C, trueT);
    const u = rng();
    labels.push(u < p[0] ? 0 : u < p[0] + p[1] ? 1 : 2);
  }
  const fit = fitTemperature(logits, labels, C);
  close(fit.temperature, trueT, 0.2, 'fitted T');
  assert.ok(fit.nllAfter < fit.nllBefore);
  close(temperedNll(logits, labels, C, fit.temperature), fit.nllAfter, 1e-9, 'nll');
  const before = temperedSoftmax(logits, C, 1);
  const after = temperedSoftmax(logits, C, fit.temperature);
  for (let i = 0; i < 50; i++) {
    const am = (p: Float32Array) => [0, 1, 2].reduce((b, c) => (p[i * C + c] > p[i * C + b] ? c : b), 0);
    assert.equal(am(before), am(after));
  }
  // over-confident predictions (the ECE 32 %): calibration lowers ECE
  const ev = (p: Float32Array) =>
    evaluatePredictions('test', ['a', 'b', 'c'], p, labels, labels.map(String), 10, { resamples: 0 }).ece;
  assert.ok(ev(after) < ev(before), `ECE ${ev(before)} → ${ev(after)}`);
});

test('evaluation report: counts beside every figure, intervals that contain the value, rough below 30 per class', () => {
  // 3 classes, 40/20/12 like a small BUSI test split
  const rng = mulberry32(3);
  const labels = [...Array(40).fill(0), ...Array(20).fill(1), ...Array(12).fill(2)];
  const probs = new Float32Array(labels.length * 3);
  labels.forEach((y, i) => {
    const row = [rng(), rng(), rng()];
    row[y] += 0.8;
    const s = row.reduce((a, b) => a + b, 0);
    row.forEach((v, c) => (probs[i * 3 + c] = v / s));
  });
  const r = evaluatePredictions(
    'test',
    ['benign', 'malignant', 'normal'],
    probs,
    labels,
    labels.map((_, i) => `f${i}`),
  );
  assert.equal(r.estimates.accuracy.n, 72);
  assert.equal(r.estimates.accuracy.k, Math.round(r.accuracy * 72));
  for (const e of [r.estimates.accuracy, r.estimates.balancedAccuracy, r.estimates.macroF1])
    assert.ok(e.lower <= e.value && e.value <= e.upper, JSON.stringify(e));
  assert.equal(r.estimates.balancedAccuracy.value, r.balancedAccuracy);
  for (const c of r.perClass) {
    assert.equal(c.recallEstimate.n, c.support);
    assert.equal(c.precisionEstimate.n, c.predicted);
    assert.ok(c.auc && c.auc.lower <= c.auc.value && c.auc.value <= c.auc.upper);
    assert.equal(c.specificity.n, 72 - c.support);
  }
  assert.equal(r.minClassSupport, 12);
  assert.equal(r.rough, true);
  assert.equal(r.roc.length, 3);
  const sumConf = r.confusion.flat().reduce((a, b) => a + b, 0) - r.confusion.reduce((a, row, i) => a + row[i], 0);
  assert.ok(
    r.topConfusions.reduce((a, x) => a + x.count, 0) <= sumConf &&
      r.topConfusions.every((x, i, a) => i === 0 || a[i - 1].count >= x.count),
  );
  // the bootstrap keeps every class's count in each resample (stratified)
  const kept = stratifiedBootstrap(labels, (rows) => Array.from(rows).filter((i) => labels[i] === 2).length, {
    resamples: 50,
  });
  assert.deepEqual([kept.value, kept.lower, kept.upper], [12, 12, 12]);
  // a class of 1–4 images would give a zero-width interval: the whole range and a note instead
  const tiny = stratifiedBootstrap([0, 0, 0, 0, 0, 1], (rows) => rows.length / 6);
  assert.deepEqual([tiny.lower, tiny.upper], [0, 1]);
  assert.match(tiny.note!, /only 1 image/);
});
