// A ring of fixed time slots, each holding a few numeric fields, allocated once on the first
// write: adding to the current slot is O(1) with no allocation after that, and old slots are
// zeroed as time moves on. The monitor's sliding windows are sums over the newest slots. A ring
// nothing was ever written to holds no slots (a backend's is 16 KiB: 60 slots × 33 fields), so
// a pool of a thousand backends that serve nothing costs no window memory.

export class Ring {
  readonly slotMs: number;
  readonly slots: number;
  readonly fields: number;
  /** Undefined until the first add() or addAt(): every slot reads 0 until then. */
  #data: Float64Array | undefined;
  /** Index (time / slotMs) of the newest slot; -Infinity before the first use. */
  #cur = Number.NEGATIVE_INFINITY;

  constructor(slotMs: number, slots: number, fields: number) {
    this.slotMs = slotMs;
    this.slots = Math.max(1, slots);
    this.fields = fields;
  }

  /** Whether anything was ever written (and the slots are allocated). */
  get allocated(): boolean {
    return this.#data !== undefined;
  }

  /** Move the newest slot to the one holding `now`, zeroing the slots skipped over. */
  advance(now: number): void {
    const idx = Math.floor(now / this.slotMs);
    if (idx <= this.#cur) return;
    const d = this.#data;
    if (d !== undefined) {
      const steps = Number.isFinite(this.#cur) ? Math.min(idx - this.#cur, this.slots) : this.slots;
      for (let k = 0; k < steps; k++) {
        const base = ((((idx - k) % this.slots) + this.slots) % this.slots) * this.fields;
        d.fill(0, base, base + this.fields);
      }
    }
    this.#cur = idx;
  }

  /** The slots, allocated (all zero) on the first write. */
  #slots(): Float64Array {
    return (this.#data ??= new Float64Array(this.slots * this.fields));
  }

  add(now: number, field: number, v: number): void {
    this.advance(now);
    const d = this.#slots();
    const base = (((this.#cur % this.slots) + this.slots) % this.slots) * this.fields;
    d[base + field] = (d[base + field] as number) + v;
  }

  /** Add to a field of the slot `age` before the one holding `now` (0 = that slot). */
  addAt(now: number, age: number, field: number, v: number): void {
    this.advance(now);
    if (age < 0 || age >= this.slots) return;
    const i = this.#cur - age;
    const d = this.#slots();
    const at = (((i % this.slots) + this.slots) % this.slots) * this.fields + field;
    d[at] = (d[at] as number) + v;
  }

  /**
   * Add fields [first, first + out.length) of the newest `n` slots into `out`, in one
   * tight pass (the evaluation's hot loop). Call advance(now) first.
   */
  accumulate(first: number, n: number, out: Float64Array): void {
    const d = this.#data;
    if (d === undefined || !Number.isFinite(this.#cur)) return;
    const f = this.fields;
    const width = out.length;
    const count = Math.min(n, this.slots);
    let slot = ((this.#cur % this.slots) + this.slots) % this.slots;
    for (let k = 0; k < count; k++) {
      const base = slot * f + first;
      for (let j = 0; j < width; j++) out[j] = (out[j] as number) + (d[base + j] as number);
      slot = slot === 0 ? this.slots - 1 : slot - 1;
    }
  }

  /** Value of a field `age` slots before the newest (0 = newest). Call advance(now) first. */
  at(age: number, field: number): number {
    const d = this.#data;
    if (d === undefined || age >= this.slots || !Number.isFinite(this.#cur)) return 0;
    const i = this.#cur - age;
    return d[(((i % this.slots) + this.slots) % this.slots) * this.fields + field] as number;
  }

  /** Sum of a field over the newest `spanMs` (whole slots, the newest partial one included). */
  sum(now: number, field: number, spanMs: number): number {
    this.advance(now);
    const n = Math.min(this.slots, Math.max(1, Math.round(spanMs / this.slotMs)));
    const d = this.#data;
    if (d === undefined || !Number.isFinite(this.#cur)) return 0;
    let slot = ((this.#cur % this.slots) + this.slots) % this.slots;
    let s = 0;
    for (let k = 0; k < n; k++) {
      s += d[slot * this.fields + field] as number;
      slot = slot === 0 ? this.slots - 1 : slot - 1;
    }
    return s;
  }
}

/** Upper bounds (ms) of the latency histogram kept per backend per slot for p50/p99. */
export const LATENCY_BOUNDS_MS = [
  1,
  2,
  3,
  5,
  7,
  10,
  15,
  20,
  30,
  50,
  70,
  100,
  150,
  200,
  300,
  500,
  700,
  1000,
  1500,
  2000,
  3000,
  5000,
  7000,
  10_000,
  20_000,
  30_000,
  60_000,
  Number.POSITIVE_INFINITY,
];

export function latencyBucket(ms: number): number {
  let i = 0;
  while (ms > (LATENCY_BOUNDS_MS[i] as number)) i++;
  return i;
}

/** Quantile (0..1) of a bucketed histogram, interpolated linearly within the bucket. */
export function histogramQuantile(counts: ArrayLike<number>, q: number): number | null {
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i] as number;
  if (total === 0) return null;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i] as number;
    if (seen + c >= rank && c > 0) {
      const lo = i === 0 ? 0 : (LATENCY_BOUNDS_MS[i - 1] as number);
      const hiRaw = LATENCY_BOUNDS_MS[i] as number;
      const hi = Number.isFinite(hiRaw) ? hiRaw : lo * 2;
      return lo + ((hi - lo) * (rank - seen)) / c;
    }
    seen += c;
  }
  return null;
}
