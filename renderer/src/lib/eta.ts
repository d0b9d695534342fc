/** Progress arithmetic for the Train screen (pure, unit-testable). */
export interface StepSample {
  epoch: number;
  step: number;
  stepsPerEpoch: number;
  at: number;
}

export function overallFraction(s: StepSample | null, epochs: number): number {
  if (!s || epochs <= 0 || s.stepsPerEpoch <= 0) return 0;
  // engine events: epoch is 0-based, step counts the steps done in that epoch (1-based)
  const done = s.epoch * s.stepsPerEpoch + s.step;
  return Math.min(1, done / (epochs * s.stepsPerEpoch));
}

/** Seconds left, from the average pace since training started; null until there is a pace. */
export function etaSeconds(first: StepSample | null, last: StepSample | null, epochs: number): number | null {
  if (!first || !last || last.at <= first.at) return null;
  const f0 = overallFraction(first, epochs);
  const f1 = overallFraction(last, epochs);
  if (f1 <= f0) return null;
  const perFraction = (last.at - first.at) / 1000 / (f1 - f0);
  return Math.max(0, (1 - f1) * perFraction);
}

export function formatDuration(s: number | null): string {
  if (s === null || !Number.isFinite(s)) return '—';
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

export const pct = (x: number | null | undefined, digits = 1): string =>
  x === null || x === undefined || !Number.isFinite(x) ? '—' : `${(x * 100).toFixed(digits)} %`;

/** Human wording for the engine's phase names (unknown phases are shown as they come). */
export function phaseLabel(phase: string | null, detail?: string): string {
  if (!phase) return '';
  const words: Record<string, string> = {
    prepare: 'Preparing the run',
    resume: 'Resuming from the last checkpoint',
    scan: 'Checking the dataset',
    compile: 'Building the training program',
    features: 'Computing image features',
    train: 'Training',
    evaluate: 'Evaluating',
    export: 'Writing the exported model',
    verify: 'Verifying the exported model',
  };
  const split: Record<string, string> = { train: 'training images', val: 'validation images', test: 'test images' };
  const [head, sub] = phase.split(':');
  const base = words[head] ?? head[0].toUpperCase() + head.slice(1);
  const withSub = sub ? `${base} — ${split[sub] ?? sub}` : base;
  const showDetail = detail && !/^([A-Za-z]:)?[\\/]/.test(detail);
  return withSub + (showDetail ? ` — ${detail}` : '');
}
