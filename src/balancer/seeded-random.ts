// A small seeded PRNG (mulberry32) for tests and simulations that need repeatable
// sequences. Not for anything security-related.

/** A uniform [0, 1) source that yields the same sequence for the same seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A source that always returns the same value (e.g. 0 for "offset 0" exact-sequence tests). */
export function constantRandom(value: number): () => number {
  return () => value;
}
