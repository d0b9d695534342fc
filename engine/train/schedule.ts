/** Linear warm-up, then cosine decay to `minFactor`·lr: the learning-rate schedule of the GPS/PACE official scripts. */
export function cosineWithWarmup(
  step: number,
  totalSteps: number,
  warmupSteps: number,
  baseLr: number,
  minFactor = 0,
): number {
  if (totalSteps <= 0) return baseLr;
  if (step < warmupSteps) return (baseLr * (step + 1)) / warmupSteps;
  const progress = Math.min(1, (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps));
  return baseLr * (minFactor + (1 - minFactor) * 0.5 * (1 + Math.cos(Math.PI * progress)));
}
