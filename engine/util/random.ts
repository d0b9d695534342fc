/** Seeded randomness for training (init, shuffles, noise): one PRNG family, shared with the data layer. */
import { mixSeed, mulberry32, shuffleInPlace } from '../data/rng';

export { mulberry32 };

/** Standard normal samples (Box–Muller) from a uniform source. */
export function normal(rng: () => number): number {
  const u = Math.max(rng(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
}

/** Derives an independent seed for a sub-stream (epoch, purpose) from the run seed. */
export const deriveSeed = (seed: number, ...parts: number[]): number => mixSeed(seed, ...parts);

export function shuffled<T>(items: readonly T[], rng: () => number): T[] {
  return shuffleInPlace([...items], rng);
}
