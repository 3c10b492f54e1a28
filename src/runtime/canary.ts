// The traffic-slice canary's rules (`fulcrum apply FILE --canary 10% --guard 30s`): what a share
// may be, and the guard's verdict comparing the canary slice with the baseline slice over the
// same seconds (never before against after).
import { FulcrumError } from '../core/errors.ts';
import { parsePercent } from '../core/units.ts';
import type { BackendCounts } from './backend-tally.ts';
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

/** One backend (`pool/backend`): each slice's requests and 5xx since the canary started. */
export interface BackendSlices {
  backend: string;
  canary: BackendCounts;
  baseline: BackendCounts;
}

/** The exposure rule: the canary's exposure must exceed the baseline's by this much... */
export const CANARY_EXPOSURE_MARGIN = 0.01;
/** ...and by this many standard errors, so the spread of a few seconds' counts never decides. */
export const CANARY_EXPOSURE_Z = 3;

/**
 * The second verdict step, for a canary that moves traffic rather than breaking requests: both
 * slices share the backends, so an overloaded backend fails both slices' requests alike and
 * their error ratios part slowly (the postmortem's 10:1:1 canary sends 83% of its slice to the
 * backend it overloads, the baseline 33%; at 5% errors there the ratios are 4.2% and 1.7%, under
 * the direct rule's factor 2 once the other backends fail a little too). Here each backend's
 * error ratio is read from BOTH slices' requests over the same seconds (ten times the canary's
 * own), and each slice's exposure is its mix weighted by those ratios: how many of its requests
 * its routing sends to where requests fail now. A canary whose weights only move traffic between
 * backends that fail alike is clean (the moved shares sum to zero); one that moves traffic onto
 * the failing backend regresses, and the reason names that backend.
 */
export function canaryExposure(rows: readonly BackendSlices[]): string | undefined {
  let nc = 0;
  let nb = 0;
  for (const r of rows) {
    nc += r.canary.requests;
    nb += r.baseline.requests;
  }
  if (nc < CANARY_MIN_REQUESTS || nb < CANARY_MIN_REQUESTS) return undefined;
  let exposureCanary = 0;
  let exposureBaseline = 0;
  let variance = 0;
  let favouredErrors = 0;
  let worst: { name: string; moved: number; ratio: number; mc: number; mb: number } | undefined;
  for (const { backend: name, canary: c, baseline: b } of rows) {
    const n = c.requests + b.requests;
    if (n === 0) continue;
    const ratio = (c.errors + b.errors) / n;
    const mc = c.requests / nc;
    const mb = b.requests / nb;
    exposureCanary += mc * ratio;
    exposureBaseline += mb * ratio;
    // The ratio's sampling variance, carried by the share the canary moved; plus the canary
    // mix's own multinomial spread (covariances left out: this only widens the bound).
    variance += ((mc - mb) * (mc - mb) * ratio * (1 - ratio)) / n + (ratio * ratio * mc * (1 - mc)) / nc;
    if (mc > mb) {
      favouredErrors += c.errors + b.errors;
      const moved = (mc - mb) * ratio;
      if (worst === undefined || moved > worst.moved) worst = { name, moved, ratio, mc, mb };
    }
  }
  const diff = exposureCanary - exposureBaseline;
  if (worst === undefined || favouredErrors < CANARY_MIN_ERRORS || diff <= CANARY_EXPOSURE_MARGIN) {
    return undefined;
  }
  const z = variance > 0 ? diff / Math.sqrt(variance) : Infinity;
  if (z < CANARY_EXPOSURE_Z) return undefined;
  const pct = (r: number): string => `${(r * 100).toFixed(1)}%`;
  return `canary sends ${pct(worst.mc)} of its requests to ${worst.name}, which failed ${pct(worst.ratio)} of requests over the same seconds (the baseline sends it ${pct(worst.mb)}): ${pct(exposureCanary)} of the canary's requests go where requests fail against ${pct(exposureBaseline)} of the baseline's (${z === Infinity ? 'no spread' : `${z.toFixed(1)} standard errors`})`;
}
