// Pearson's chi-square goodness-of-fit test, for the distribution check: is what the probes
// saw consistent with the configured shares, given how many probes there were? Pure maths.

/** ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9; ~15 significant digits). */
export function lnGamma(x: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lnGamma(1 - x);
  const z = x - 1;
  let a = c[0] as number;
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += (c[i] as number) / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Upper regularised incomplete gamma Q(a, x) = Γ(a, x) / Γ(a). */
export function gammaQ(a: number, x: number): number {
  if (x <= 0) return 1;
  const lnPre = a * Math.log(x) - x - lnGamma(a);
  if (x < a + 1) {
    // Series for P(a, x), then Q = 1 - P.
    let sum = 1 / a;
    let term = sum;
    for (let n = 1; n < 1000; n++) {
      term *= x / (a + n);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * 1e-15) break;
    }
    return Math.max(0, 1 - sum * Math.exp(lnPre));
  }
  // Continued fraction for Q(a, x) (modified Lentz).
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 1000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-15) break;
  }
  return Math.min(1, Math.exp(lnPre) * h);
}

export interface ChiSquareResult {
  statistic: number;
  degreesOfFreedom: number;
  /** Probability of a deviation at least this large if the expected shares were true. */
  pValue: number;
}

/**
 * Observed counts against expected shares (summing to 1). Categories with an expected share
 * of 0 are left out (a count there is judged separately: any traffic to it is wrong).
 */
export function chiSquare(observed: readonly number[], expectedShares: readonly number[]): ChiSquareResult {
  let n = 0;
  for (let i = 0; i < observed.length; i++) if ((expectedShares[i] ?? 0) > 0) n += observed[i] ?? 0;
  let statistic = 0;
  let k = 0;
  for (let i = 0; i < observed.length; i++) {
    const p = expectedShares[i] ?? 0;
    if (p <= 0) continue;
    k++;
    const e = n * p;
    const d = (observed[i] ?? 0) - e;
    statistic += (d * d) / e;
  }
  const df = Math.max(0, k - 1);
  return { statistic, degreesOfFreedom: df, pValue: df === 0 || n === 0 ? 1 : gammaQ(df / 2, statistic / 2) };
}
