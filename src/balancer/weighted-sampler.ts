// Weighted random sampling in O(1) per draw: Vose's alias method, rebuilt when the host set
// changes (off the request path). Shared by `random`, `least-requests`, `p2c-ewma` and the
// keyless fallback of `consistent-hash`.
import type { BalancerHost } from './policy.ts';

/** Draws left to plain sampling before an exclude set forces a scan of the allowed hosts. */
const EXCLUDE_ATTEMPTS = 4;

export class WeightedSampler<H extends BalancerHost> {
  /** Hosts with a positive effective weight, in the order given to set(). */
  hosts: readonly H[] = [];
  /** Effective weights snapshotted by set(), parallel to `hosts`. */
  weights = new Float64Array(0);
  totalWeight = 0;

  readonly #random: () => number;
  #prob = new Float64Array(0);
  #alias = new Int32Array(0);

  constructor(random: () => number) {
    this.#random = random;
  }

  get size(): number {
    return this.hosts.length;
  }

  /** Rebuild the alias table; hosts of weight 0 (or not a finite positive number) are left out. */
  set(all: readonly H[]): void {
    const hosts = all.filter((h) => h.effectiveWeight > 0 && Number.isFinite(h.effectiveWeight));
    const n = hosts.length;
    const weights = new Float64Array(n);
    let total = 0;
    for (let i = 0; i < n; i++) total += weights[i] = (hosts[i] as H).effectiveWeight;
    const prob = new Float64Array(n);
    const alias = new Int32Array(n);
    // Vose: scale so the mean is 1, then pair each under-full column with an over-full one.
    const scaled = new Float64Array(n);
    const small = new Int32Array(n);
    const large = new Int32Array(n);
    let ns = 0;
    let nl = 0;
    for (let i = 0; i < n; i++) {
      const p = ((weights[i] as number) * n) / total;
      scaled[i] = p;
      if (p < 1) small[ns++] = i;
      else large[nl++] = i;
    }
    while (ns > 0 && nl > 0) {
      const s = small[--ns] as number;
      const l = large[--nl] as number;
      prob[s] = scaled[s] as number;
      alias[s] = l;
      const rest = (scaled[l] as number) + (scaled[s] as number) - 1;
      scaled[l] = rest;
      if (rest < 1) small[ns++] = l;
      else large[nl++] = l;
    }
    // Whatever is left is 1 up to rounding error.
    while (nl > 0) prob[large[--nl] as number] = 1;
    while (ns > 0) prob[small[--ns] as number] = 1;
    this.hosts = hosts;
    this.weights = weights;
    this.totalWeight = total;
    this.#prob = prob;
    this.#alias = alias;
  }

  /** One weighted draw (index into `hosts`) from a single random number; size must be > 0. */
  sample(): number {
    const n = this.hosts.length;
    const u = this.#random() * n;
    let i = Math.floor(u);
    if (i >= n) i = n - 1;
    return u - i < (this.#prob[i] as number) ? i : (this.#alias[i] as number);
  }

  /**
   * A weighted draw among hosts not in `exclude`; -1 when none is left. Exclusions are rare
   * (retries, hosts at their request cap), so a few plain draws are tried before an O(n)
   * weighted scan over the allowed hosts.
   */
  pick(exclude: ReadonlySet<BalancerHost> | undefined): number {
    const n = this.hosts.length;
    if (n === 0) return -1;
    if (exclude === undefined || exclude.size === 0) return this.sample();
    for (let a = 0; a < EXCLUDE_ATTEMPTS; a++) {
      const i = this.sample();
      if (!exclude.has(this.hosts[i] as H)) return i;
    }
    let total = 0;
    for (let i = 0; i < n; i++) if (!exclude.has(this.hosts[i] as H)) total += this.weights[i] as number;
    if (total === 0) return -1;
    let r = this.#random() * total;
    let last = -1;
    for (let i = 0; i < n; i++) {
      if (exclude.has(this.hosts[i] as H)) continue;
      last = i;
      r -= this.weights[i] as number;
      if (r < 0) return i;
    }
    return last;
  }
}
