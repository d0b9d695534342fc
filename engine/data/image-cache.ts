/**
 * A memory-bounded LRU of decoded, resized images (uint8 RGB, or float after the value mapping), so that small
 * datasets are decoded once per run instead of once per epoch. In-flight decodes are shared, so prefetching two
 * batches that contain the same file decodes it once.
 */
import type { PixelImage } from './pixels';

export const DEFAULT_CACHE_BYTES = 1024 * 1024 * 1024;

export class DecodedImageCache {
  private entries = new Map<string, PixelImage>();
  private pending = new Map<string, Promise<PixelImage>>();
  private used = 0;
  hits = 0;
  misses = 0;

  constructor(public budgetBytes: number = DEFAULT_CACHE_BYTES) {}

  get bytes(): number {
    return this.used;
  }

  get size(): number {
    return this.entries.size;
  }

  async get(key: string, load: () => Promise<PixelImage>): Promise<PixelImage> {
    const hit = this.entries.get(key);
    if (hit) {
      // refresh recency (Map keeps insertion order)
      this.entries.delete(key);
      this.entries.set(key, hit);
      this.hits++;
      return hit;
    }
    const inflight = this.pending.get(key);
    if (inflight) return inflight;
    this.misses++;
    const p = load().then(
      (img) => {
        this.pending.delete(key);
        this.put(key, img);
        return img;
      },
      (err: unknown) => {
        this.pending.delete(key);
        throw err;
      },
    );
    this.pending.set(key, p);
    return p;
  }

  private put(key: string, img: PixelImage): void {
    const n = img.data.byteLength;
    if (n > this.budgetBytes) return;
    while (this.used + n > this.budgetBytes && this.entries.size > 0) {
      const [oldKey, old] = this.entries.entries().next().value as [string, PixelImage];
      this.entries.delete(oldKey);
      this.used -= old.data.byteLength;
    }
    this.entries.set(key, img);
    this.used += n;
  }

  clear(): void {
    this.entries.clear();
    this.used = 0;
  }
}

let shared: DecodedImageCache | undefined;

/** The process-wide cache used by loaders that are not given one. */
export function sharedImageCache(budgetBytes?: number): DecodedImageCache {
  shared ??= new DecodedImageCache(budgetBytes);
  if (budgetBytes !== undefined) shared.budgetBytes = budgetBytes;
  return shared;
}
