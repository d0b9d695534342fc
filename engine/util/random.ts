/**
 * Seeded randomness for everything Attune draws (splits, shuffles, augmentation, initialisation, noise). Splits
 * and augmentations must be reproducible from a seed alone, on any machine and in any scheduling order, so
 * nothing here touches Math.random.
 */

/** mulberry32: 32-bit state, fast, good enough for shuffles and augmentation parameters. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * An independent seed for a sub-stream, e.g. (seed, epoch, itemIndex, view): several integers mixed into one
 * well-spread 32-bit seed (splitmix32-style finaliser per step).
 */
export function deriveSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) {
    h = (h ^ (p >>> 0)) >>> 0;
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
    h = (h ^ (h >>> 16)) >>> 0;
    // fold in the high part of non-32-bit inputs (e.g. large seeds) so they are not silently truncated
    const hi = Math.floor(p / 4294967296) >>> 0;
    if (hi) h = Math.imul(h ^ hi, 0x27d4eb2f) >>> 0;
  }
  return h >>> 0;
}

/** A PRNG for one (seed, ...path) coordinate, e.g. (seed, epoch, itemIndex, view). */
export function rngFor(...parts: number[]): () => number {
  return mulberry32(deriveSeed(...parts));
}

/** Fisher–Yates shuffle in place. */
export function shuffleInPlace<T>(xs: T[], rng: () => number): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const t = xs[i];
    xs[i] = xs[j];
    xs[j] = t;
  }
  return xs;
}

/** Standard normal samples (Box–Muller) from a uniform source. */
export function normal(rng: () => number): number {
  const u = Math.max(rng(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
}
