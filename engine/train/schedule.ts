/** Learning-rate schedule: linear warm-up, then cosine decay to `minFactor`·lr (the GPS/PACE official scripts use this shape). */
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
