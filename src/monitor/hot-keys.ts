// Top hash keys of a pool with the space-saving algorithm (Metwally et al.): k counters,
// O(k) worst case per new key and O(1) per known key, never more than k keys in memory.
// Any key whose true count exceeds total/k is guaranteed to be tracked, which is all the
// hot-key cause needs (HOT_KEY_SHARE is far above 1/k).

export interface TopKey {
  readonly key: string;
  /** Upper bound of the key's count (space-saving over-estimates by at most `error`). */
  readonly count: number;
  readonly error: number;
  /** Backend the key's last request went to. */
  readonly backend: string | undefined;
}

export class SpaceSaving {
  readonly #k: number;
  readonly #index = new Map<string, number>();
  readonly #keys: string[] = [];
  readonly #counts: number[] = [];
  readonly #errors: number[] = [];
  readonly #backends: (string | undefined)[] = [];
  total = 0;

  constructor(k = 16) {
    this.#k = k;
  }

  add(key: string, backend: string | undefined): void {
    this.total++;
    const i = this.#index.get(key);
    if (i !== undefined) {
      this.#counts[i] = (this.#counts[i] as number) + 1;
      this.#backends[i] = backend;
      return;
    }
    if (this.#keys.length < this.#k) {
      this.#index.set(key, this.#keys.length);
      this.#keys.push(key);
      this.#counts.push(1);
      this.#errors.push(0);
      this.#backends.push(backend);
      return;
    }
    let min = 0;
    for (let j = 1; j < this.#counts.length; j++)
      if ((this.#counts[j] as number) < (this.#counts[min] as number)) min = j;
    const floor = this.#counts[min] as number;
    this.#index.delete(this.#keys[min] as string);
    this.#index.set(key, min);
    this.#keys[min] = key;
    this.#counts[min] = floor + 1;
    this.#errors[min] = floor;
    this.#backends[min] = backend;
  }

  clear(): void {
    this.#index.clear();
    this.#keys.length = 0;
    this.#counts.length = 0;
    this.#errors.length = 0;
    this.#backends.length = 0;
    this.total = 0;
  }

  /** Tracked keys, most frequent first. */
  top(): TopKey[] {
    return this.#keys
      .map((key, i) => ({
        key,
        count: this.#counts[i] as number,
        error: this.#errors[i] as number,
        backend: this.#backends[i],
      }))
      .sort((a, b) => b.count - a.count);
  }
}

/**
 * Top keys over a sliding window, approximated by two sketches that rotate every half
 * window: the answer covers between half a window and a whole one of traffic.
 */
export class WindowedTopKeys {
  readonly #halfMs: number;
  #current: SpaceSaving;
  #previous: SpaceSaving;
  #epoch = -1;

  constructor(windowMs: number, k = 16) {
    this.#halfMs = Math.max(1, Math.floor(windowMs / 2));
    this.#current = new SpaceSaving(k);
    this.#previous = new SpaceSaving(k);
  }

  #rotate(now: number): void {
    const epoch = Math.floor(now / this.#halfMs);
    if (epoch === this.#epoch) return;
    if (epoch === this.#epoch + 1) {
      const old = this.#previous;
      this.#previous = this.#current;
      this.#current = old;
    } else {
      this.#previous.clear();
    }
    this.#current.clear();
    this.#epoch = epoch;
  }

  add(now: number, key: string, backend: string | undefined): void {
    this.#rotate(now);
    this.#current.add(key, backend);
  }

  /** The most frequent key and its share of the hashed requests, or undefined. */
  hottest(
    now: number,
  ): { key: string; share: number; backend: string | undefined; count: number } | undefined {
    this.#rotate(now);
    const total = this.#current.total + this.#previous.total;
    if (total === 0) return undefined;
    const merged = new Map<string, { count: number; backend: string | undefined }>();
    for (const s of [this.#previous, this.#current]) {
      for (const t of s.top()) {
        const m = merged.get(t.key);
        if (m) {
          m.count += t.count;
          m.backend = t.backend;
        } else merged.set(t.key, { count: t.count, backend: t.backend });
      }
    }
    let best: { key: string; count: number; backend: string | undefined } | undefined;
    for (const [key, v] of merged) if (!best || v.count > best.count) best = { key, ...v };
    return best && { ...best, share: best.count / total };
  }
}
