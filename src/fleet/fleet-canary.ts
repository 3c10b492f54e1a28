// The canary guard's verdict: the canary instances against the others over the SAME seconds
// (not before against after), from the difference of their cumulative counters since the
// canary started. A regression is an error ratio well above the baseline's.
import type { LoadReport } from './fleet-records.ts';

export interface SliceStats {
  requests: number;
  errors: number;
  errorRatio: number;
}

export interface CanaryVerdict {
  canary: SliceStats;
  baseline: SliceStats;
  /** Set when the canary regressed: why, in words. */
  regression?: string;
}

/** Fewest canary requests before a verdict. */
export const CANARY_MIN_REQUESTS = 30;
/** Regression: canary error ratio above max(baseline × factor, baseline + margin). */
export const CANARY_ERROR_FACTOR = 2;
export const CANARY_ERROR_MARGIN = 0.02;

function totals(r: LoadReport | undefined): { requests: number; errors: number } {
  let requests = 0;
  let errors = 0;
  for (const pool of Object.values(r?.pools ?? {}))
    for (const c of Object.values(pool)) {
      requests += c.requests;
      errors += c.errors;
    }
  return { requests, errors };
}

function slice(
  start: ReadonlyMap<string, LoadReport>,
  now: readonly LoadReport[],
  pick: (instance: string) => boolean,
): SliceStats {
  let requests = 0;
  let errors = 0;
  for (const r of now) {
    if (!pick(r.instance)) continue;
    const a = totals(start.get(r.instance));
    const b = totals(r);
    // A counter that went back (a restarted instance) counts from zero.
    const reset = b.requests < a.requests;
    requests += reset ? b.requests : b.requests - a.requests;
    errors += reset ? b.errors : Math.max(0, b.errors - a.errors);
  }
  return { requests, errors, errorRatio: requests > 0 ? errors / requests : 0 };
}

export function judgeCanary(
  start: ReadonlyMap<string, LoadReport>,
  now: readonly LoadReport[],
  targets: readonly string[],
): CanaryVerdict {
  const canary = slice(start, now, (i) => targets.includes(i));
  const baseline = slice(start, now, (i) => !targets.includes(i));
  const verdict: CanaryVerdict = { canary, baseline };
  if (canary.requests < CANARY_MIN_REQUESTS) return verdict;
  const limit = Math.max(
    baseline.errorRatio * CANARY_ERROR_FACTOR,
    baseline.errorRatio + CANARY_ERROR_MARGIN,
  );
  if (canary.errorRatio > limit) {
    verdict.regression = `canary error ratio ${(canary.errorRatio * 100).toFixed(1)}% over ${canary.requests} requests against ${(baseline.errorRatio * 100).toFixed(1)}% on the other instances over the same seconds`;
  }
  return verdict;
}
