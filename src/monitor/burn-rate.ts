// Multi-window, multi-burn-rate alerting on 5xx against the SLO (Google SRE workbook,
// "Alerting on SLOs", recipe 6). Burn rate = error ratio / error budget (1 − target): at
// burn rate 1 the budget lasts exactly the SLO period (30 days). A pair fires when both its
// long window (is it significant?) and its short window (is it still happening?) burn
// faster than the factor. The workbook's page pairs are 1h/5m at 14.4 (2% of a 30-day
// budget in an hour) and 6h/30m at 6 (5% in 6 hours). A 1h window needs minutes to notice
// even a total outage, so a fast pair, the 1h/5m pair scaled down 12×, 5m/30s at 14.4,
// pages a 30% error rate within ~15 s while needing the same burn rate.

export interface BurnWindow {
  readonly name: string;
  readonly longMs: number;
  readonly shortMs: number;
  readonly factor: number;
}

export const BURN_WINDOWS: readonly BurnWindow[] = [
  { name: '5m/30s', longMs: 5 * 60_000, shortMs: 30_000, factor: 14.4 },
  { name: '1h/5m', longMs: 60 * 60_000, shortMs: 5 * 60_000, factor: 14.4 },
  { name: '6h/30m', longMs: 6 * 60 * 60_000, shortMs: 30 * 60_000, factor: 6 },
];

/** Requests a short window needs before it may page (a handful of errors is not a burn). */
export const BURN_MIN_REQUESTS = 20;

export function burnRate(errors: number, total: number, target: number): number {
  const budget = 1 - target;
  if (total <= 0 || budget <= 0) return 0;
  return errors / total / budget;
}
