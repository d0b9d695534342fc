/** Plain-text lines that say what an evaluation shows, with counts and intervals (CLI summary, model card). */
import { formatEstimate } from './intervals';
import { ROUGH_BELOW_PER_CLASS, type EvaluationReport } from './metrics';

export function roughWarning(r: EvaluationReport): string | undefined {
  if (!r.rough) return undefined;
  return `Rough figures: the smallest class has only ${r.minClassSupport} ${r.split} image${r.minClassSupport === 1 ? '' : 's'} (below ${ROUGH_BELOW_PER_CLASS} per class), so the intervals are wide; k-fold evaluation or more labelled images give firmer figures.`;
}

export function evaluationSummary(r: EvaluationReport): string[] {
  const lines = [
    `${r.split}: ${r.count} images`,
    `  accuracy          ${formatEstimate(r.estimates.accuracy)}`,
    `  balanced accuracy ${formatEstimate(r.estimates.balancedAccuracy)}`,
    `  macro F1          ${formatEstimate(r.estimates.macroF1)}`,
    `  ECE ${(r.ece * 100).toFixed(1)} %`,
  ];
  for (const c of r.perClass)
    lines.push(
      `  ${c.name}: recall ${formatEstimate(c.recallEstimate)}, precision ${formatEstimate(c.precisionEstimate)}${c.auc ? `, AUC ${c.auc.value.toFixed(3)} (${c.auc.note ? 'no interval: ' + c.auc.note : `95 % CI ${c.auc.lower.toFixed(3)}–${c.auc.upper.toFixed(3)}`})` : ''}`,
    );
  for (const x of r.topConfusions.slice(0, 3))
    lines.push(`  confuses ${x.trueClass} → ${x.predictedClass}: ${x.count} of ${x.ofClass}`);
  const warn = roughWarning(r);
  if (warn) lines.push(`  ${warn}`);
  return lines;
}
