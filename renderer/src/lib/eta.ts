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
  // rounded once, so that 119.7 s reads "2 min 0 s", not "1 min 60 s"
  const r = Math.round(s);
  if (r < 60) return `${r} s`;
  if (r < 3600) return `${Math.floor(r / 60)} min ${r % 60} s`;
  const m = Math.round(r / 60);
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** Images per second: one decimal while it is small, whole and grouped once it is not (48 348, not 48348.0). */
export function formatRate(v: number | null | undefined): string {
  if (!v || !Number.isFinite(v)) return '—';
  return v < 100 ? v.toFixed(1) : Math.round(v).toLocaleString('en-US').replace(/,/g, ' ');
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
