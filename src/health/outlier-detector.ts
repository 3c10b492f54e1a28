// Passive outlier detection, as pure functions over host state: consecutive errors and
// consecutive local failures (counted apart), success-rate outliers, ejection time and the
// maxEjectionPercent cap. The health manager applies the verdicts.
import type { HostState, OutcomeKind } from '../data-plane/host-state.ts';

export interface OutlierOptions {
  /** 5xx answers and gateway errors in a row that eject (0 = off). */
  consecutiveErrors: number;
  /** Refused, reset and timed-out requests in a row that eject (0 = off). */
  consecutiveLocalFailures: number;
  /** Success-rate evaluation period. */
  interval: number;
  baseEjectionTime: number;
  maxEjectionTime: number;
  maxEjectionPercent: number;
  successRate?: { minHosts: number; minRequests: number; stdevFactor: number } | undefined;
}

export type EjectionReason = 'consecutive-errors' | 'consecutive-local-failures' | 'success-rate';

/**
 * Count one request outcome. A success resets both streaks; an error does not reset the
 * local-failure streak and vice versa (they are counted apart). Returns the reason when a
 * streak reaches its threshold.
 */
export function countOutcome(h: HostState, kind: OutcomeKind, o: OutlierOptions): EjectionReason | undefined {
  switch (kind) {
    case 'success':
      h.consecutiveErrors = 0;
      h.consecutiveLocalFailures = 0;
      return undefined;
    case 'local-failure':
    case 'connect-failure':
      h.consecutiveLocalFailures++;
      return o.consecutiveLocalFailures > 0 && h.consecutiveLocalFailures >= o.consecutiveLocalFailures
        ? 'consecutive-local-failures'
        : undefined;
    default:
      h.consecutiveErrors++;
      return o.consecutiveErrors > 0 && h.consecutiveErrors >= o.consecutiveErrors
        ? 'consecutive-errors'
        : undefined;
  }
}

/**
 * Hosts whose success rate in the interval is below mean − stdevFactor·stdev, computed over
 * the hosts with at least minRequests (and only when at least minHosts qualify). Reads the
 * window counters; the caller resets them.
 */
export function successRateOutliers(
  hosts: readonly HostState[],
  sr: NonNullable<OutlierOptions['successRate']>,
): HostState[] {
  const qualified = hosts.filter((h) => h.windowRequests >= sr.minRequests);
  if (qualified.length < sr.minHosts) return [];
  const rates = qualified.map((h) => h.windowSuccesses / h.windowRequests);
  const mean = rates.reduce((a, b) => a + b, 0) / rates.length;
  const variance = rates.reduce((a, r) => a + (r - mean) ** 2, 0) / rates.length;
  const threshold = mean - sr.stdevFactor * Math.sqrt(variance);
  return qualified.filter((_, i) => (rates[i] as number) < threshold);
}

/**
 * How many hosts of a pool may be ejected at once: floor(total × maxEjectionPercent). The cap
 * is checked after counting the ejection being considered, so it is never exceeded: with 3
 * hosts and 50%, floor(1.5) = 1 host; with 2 hosts and 10%, none.
 */
export function maxEjected(total: number, maxEjectionPercent: number): number {
  // The epsilon keeps 3 × 0.1 × 10 style float error from losing a whole host.
  return Math.floor(total * maxEjectionPercent + 1e-9);
}

/** The first back-off after a refused connection; each one in a row doubles it, up to the cap. */
export const REFUSAL_BACKOFF_BASE_MS = 1000;
export const REFUSAL_BACKOFF_MAX_MS = 8000;

/**
 * How long a backend that refused a connection stays out of rotation: 1 s, doubling for each
 * back-off in a row (h.refusals, reset by any successful request or passing check), up to 8 s.
 * A refusal is certain (the port is closed) and cost nothing to find out, so it takes the backend
 * out at once instead of after a streak; the back-off is short because nothing else may bring it
 * back when the pool has no active checks (its first request after the back-off is the probe).
 */
export function refusalBackoff(h: HostState): number {
  return Math.min(REFUSAL_BACKOFF_MAX_MS, REFUSAL_BACKOFF_BASE_MS * 2 ** Math.min(h.refusals, 16));
}

/**
 * Length of the next ejection and the new level. The level (times ejected recently) goes down
 * by one for each baseEjectionTime the host stayed in since its last ejection ended, then up
 * by one; the time is base × level, capped at maxEjectionTime, and jittered down by up to 10%
 * so hosts ejected together do not return together.
 */
export function nextEjection(
  h: HostState,
  now: number,
  o: OutlierOptions,
  random: () => number,
): { level: number; durationMs: number } {
  const base = Math.max(1, o.baseEjectionTime);
  const decayed = Number.isFinite(h.lastEjectionEnd)
    ? Math.floor((now - h.lastEjectionEnd) / base)
    : h.ejectionLevel;
  const level = Math.max(0, h.ejectionLevel - decayed) + 1;
  const full = Math.min(o.baseEjectionTime * level, o.maxEjectionTime);
  return { level, durationMs: Math.round(full * (1 - 0.1 * random())) };
}
