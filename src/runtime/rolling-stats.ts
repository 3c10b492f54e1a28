// Per-second buckets of request outcomes over the last minutes: counts, 5xx and a coarse
// latency histogram, so the guard can compare "the minutes before" with "since the apply".
// Recording is O(1) with no allocation: buckets are preallocated and reused as a ring.

const SECONDS = 600;
/** Latency histogram bucket upper bounds in ms (last bucket is +Inf). */
const LATENCY_BOUNDS = [1, 2, 5, 10, 20, 50, 100, 200, 300, 500, 750, 1000, 2000, 5000, 10000, Infinity];

interface Bucket {
  second: number;
  requests: number;
  errors: number;
  latency: Uint32Array;
}

export interface WindowStats {
  requests: number;
  errors: number;
  errorRatio: number;
  /** Upper bound of the bucket holding the 99th percentile, in ms (0 without requests). */
  p99Ms: number;
}

export class RollingStats {
  readonly #buckets: Bucket[];
  readonly #now: () => number;

  /** now: wall-clock ms (Date.now in production, a fake in tests). */
  constructor(now: () => number = Date.now) {
    this.#now = now;
    this.#buckets = Array.from({ length: SECONDS }, () => ({
      second: -1,
      requests: 0,
      errors: 0,
      latency: new Uint32Array(LATENCY_BOUNDS.length),
    }));
  }

  record(status: number, durationMs: number): void {
    const second = Math.floor(this.#now() / 1000);
    const b = this.#buckets[second % SECONDS] as Bucket;
    if (b.second !== second) {
      b.second = second;
      b.requests = 0;
      b.errors = 0;
      b.latency.fill(0);
    }
    b.requests++;
    if (status >= 500) b.errors++;
    let i = 0;
    while (durationMs > (LATENCY_BOUNDS[i] as number)) i++;
    b.latency[i] = (b.latency[i] as number) + 1;
  }

  /** Totals over [fromMs, toMs) wall-clock, at one-second resolution. */
  window(fromMs: number, toMs: number): WindowStats {
    const from = Math.floor(fromMs / 1000);
    const to = Math.floor(toMs / 1000);
    const hist = new Uint32Array(LATENCY_BOUNDS.length);
    let requests = 0;
    let errors = 0;
    for (const b of this.#buckets) {
      if (b.second < from || b.second >= to) continue;
      requests += b.requests;
      errors += b.errors;
      for (let i = 0; i < hist.length; i++) hist[i] = (hist[i] as number) + (b.latency[i] as number);
    }
    let p99Ms = 0;
    if (requests > 0) {
      const rank = Math.ceil(requests * 0.99);
      let seen = 0;
      for (let i = 0; i < hist.length; i++) {
        seen += hist[i] as number;
        if (seen >= rank) {
          p99Ms = LATENCY_BOUNDS[i] as number;
          break;
        }
      }
    }
    return { requests, errors, errorRatio: requests === 0 ? 0 : errors / requests, p99Ms };
  }
}
