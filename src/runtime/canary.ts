// The traffic-slice canary's rules (`fulcrum apply FILE --canary 10% --guard 30s`): what a share
// may be, and the guard's verdict comparing the canary slice with the baseline slice over the
// same seconds (never before against after).
import { FulcrumError } from '../core/errors.ts';
import { parsePercent } from '../core/units.ts';
import type { WindowStats } from './rolling-stats.ts';

/**
 * `10%` (decimals allowed: `0.5%`, `12.5%`) → 0.1. Only the percent form is accepted, so `0.1`
 * cannot mean 10% to one reader and 0.1% to another. 0 < share < 100%, at a resolution of 0.0001%.
 */
export function parseCanaryShare(text: string): number {
  const f = parsePercent(text);
  if (f === undefined) {
    throw new FulcrumError(
      'FULCRUM_ERR_CANARY_INVALID',
      `--canary must be a percentage like 10% (got "${text}")`,
      { canary: text },
    );
  }
  const ppm = Math.round(f * 1_000_000);
  if (!(ppm > 0 && ppm < 1_000_000)) {
    throw new FulcrumError(
      'FULCRUM_ERR_CANARY_INVALID',
      `--canary must be more than 0% and less than 100% (got "${text}"); a whole apply is a guarded apply without --canary`,
      { canary: text },
    );
  }
  return f;
}

/** `0.1` → `10%`. */
export function formatShare(f: number): string {
  return `${Number((f * 100).toFixed(4))}%`;
}

/** Fewest canary requests in the window before any verdict on errors. */
export const CANARY_MIN_REQUESTS = 20;
/** Fewest canary errors (5xx) before an error regression: a few unlucky requests never decide. */
export const CANARY_MIN_ERRORS = 5;
/** Regression: canary error ratio above max(baseline × factor, baseline + margin). */
export const CANARY_ERROR_FACTOR = 2;
export const CANARY_ERROR_MARGIN = 0.02;
/** Fewest requests in EACH slice before p99 latencies are compared (a p99 of 20 samples is their max). */
export const CANARY_LATENCY_MIN_REQUESTS = 200;
/** Regression: canary p99 above max(baseline p99 × factor, baseline p99 + margin). */
export const CANARY_LATENCY_FACTOR = 2;
export const CANARY_LATENCY_MARGIN_MS = 100;

/** One verdict step: undefined while clean, else the reason in words. */
export function canaryRegression(canary: WindowStats, baseline: WindowStats): string | undefined {
  const pct = (r: number): string => `${(r * 100).toFixed(1)}%`;
  if (canary.requests >= CANARY_MIN_REQUESTS && canary.errors >= CANARY_MIN_ERRORS) {
    const limit = Math.max(
      baseline.errorRatio * CANARY_ERROR_FACTOR,
      baseline.errorRatio + CANARY_ERROR_MARGIN,
    );
    if (canary.errorRatio > limit) {
      return `canary error ratio ${pct(canary.errorRatio)} (${canary.errors} of ${canary.requests} requests) against ${pct(baseline.errorRatio)} on the baseline over the same seconds (limit ${pct(limit)})`;
    }
  }
  if (canary.requests >= CANARY_LATENCY_MIN_REQUESTS && baseline.requests >= CANARY_LATENCY_MIN_REQUESTS) {
    const limit = Math.max(baseline.p99Ms * CANARY_LATENCY_FACTOR, baseline.p99Ms + CANARY_LATENCY_MARGIN_MS);
    if (canary.p99Ms > limit) {
      return `canary p99 latency ≤${canary.p99Ms}ms against ≤${baseline.p99Ms}ms on the baseline over the same seconds (limit ${limit}ms)`;
    }
  }
  return undefined;
}
