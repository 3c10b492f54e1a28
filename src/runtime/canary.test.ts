import { describe, expect, it } from 'vitest';
import { isFulcrumError } from '../core/errors.ts';
import { canaryExposure as exposure, canaryRegression, formatShare, parseCanaryShare } from './canary.ts';
import type { BackendCounts } from './backend-tally.ts';
import type { WindowStats } from './rolling-stats.ts';

function w(requests: number, errors: number, p99Ms = 10): WindowStats {
  return { requests, errors, errorRatio: requests === 0 ? 0 : errors / requests, p99Ms };
}

describe('parseCanaryShare', () => {
  it('reads percentages strictly between 0% and 100%', () => {
    expect(parseCanaryShare('10%')).toBeCloseTo(0.1, 12);
    expect(parseCanaryShare('0.5%')).toBeCloseTo(0.005, 12);
    expect(parseCanaryShare(' 99.9% ')).toBeCloseTo(0.999, 12);
    expect(formatShare(parseCanaryShare('12.5%'))).toBe('12.5%');
  });

  it('refuses the rest with FULCRUM_ERR_CANARY_INVALID', () => {
    for (const bad of ['0%', '100%', '150%', '0.1', '10', 'ten%', '-5%', '', '0.00001%']) {
      let code: string | undefined;
      try {
        parseCanaryShare(bad);
      } catch (err) {
        code = isFulcrumError(err) ? err.code : 'not coded';
      }
      expect(code, bad).toBe('FULCRUM_ERR_CANARY_INVALID');
    }
  });
});

describe('canaryRegression', () => {
  it('a few requests never decide', () => {
    expect(canaryRegression(w(19, 19), w(1000, 0))).toBeUndefined();
    expect(canaryRegression(w(1000, 4), w(1000, 0))).toBeUndefined();
  });

  it('an error ratio clearly above the baseline over the same seconds regresses', () => {
    expect(canaryRegression(w(20, 5), w(180, 0))).toMatch(/canary error ratio 25\.0% \(5 of 20 requests\)/);
    expect(canaryRegression(w(1000, 31), w(9000, 90))).toMatch(/limit 3\.0%/);
  });

  it('a canary as bad as the baseline is clean (the cause is not the new config)', () => {
    expect(canaryRegression(w(100, 20), w(900, 150))).toBeUndefined();
  });

  it('p99 latency is compared only with enough requests in both slices', () => {
    expect(canaryRegression(w(199, 0, 1000), w(5000, 0, 10))).toBeUndefined();
    expect(canaryRegression(w(200, 0, 1000), w(5000, 0, 10))).toMatch(/p99 latency ≤1000ms against ≤10ms/);
    expect(canaryRegression(w(200, 0, 100), w(5000, 0, 10))).toBeUndefined();
  });
});

/** `{ 'app/a': [requests, errors], ... }` → the guard's per-backend counts of one slice. */
function mix(counts: Record<string, [number, number]>): Map<string, BackendCounts> {
  return new Map(Object.entries(counts).map(([k, [requests, errors]]) => [k, { requests, errors }]));
}

/** Both slices' counts as the guard hands them to the rule: one row per backend either ran. */
function canaryExposure(
  canary: Map<string, BackendCounts>,
  baseline: Map<string, BackendCounts>,
): string | undefined {
  const none = { requests: 0, errors: 0 };
  return exposure(
    [...new Set([...canary.keys(), ...baseline.keys()])].map((backend) => ({
      backend,
      canary: canary.get(backend) ?? none,
      baseline: baseline.get(backend) ?? none,
    })),
  );
}

describe('canaryExposure', () => {
  // The postmortem's 10:1:1 as a 10% canary: 83% of its slice goes to app-1, which it overloads
  // (8% of app-1's requests fail, of both slices), while app-2 and app-3 fail 3% anyway.
  const skewed = mix({ 'app/app-1': [166, 13], 'app/app-2': [17, 1], 'app/app-3': [17, 0] });
  const even = mix({ 'app/app-1': [600, 48], 'app/app-2': [600, 18], 'app/app-3': [600, 18] });

  it('the direct rule misses a canary that moves traffic onto the backend it overloads', () => {
    const ratio = (m: Map<string, BackendCounts>): [number, number] =>
      [...m.values()].reduce<[number, number]>((a, c) => [a[0] + c.requests, a[1] + c.errors], [0, 0]);
    const [nc, ec] = ratio(skewed);
    const [nb, eb] = ratio(even);
    expect(canaryRegression(w(nc, ec), w(nb, eb))).toBeUndefined();
  });

  it('regresses it, naming the backend and both exposures', () => {
    expect(canaryExposure(skewed, even)).toBe(
      "canary sends 83.0% of its requests to app/app-1, which failed 8.0% of requests over the same seconds (the baseline sends it 33.3%): 7.1% of the canary's requests go where requests fail against 4.7% of the baseline's (4.2 standard errors)",
    );
  });

  it('is clean when the moved traffic lands where requests fail alike', () => {
    const alike = mix({ 'app/app-1': [600, 18], 'app/app-2': [600, 18], 'app/app-3': [600, 18] });
    expect(
      canaryExposure(mix({ 'app/app-1': [166, 5], 'app/app-2': [17, 1], 'app/app-3': [17, 0] }), alike),
    ).toBe(undefined);
  });

  it('is clean when the canary moves traffic away from the failing backend', () => {
    const away = mix({ 'app/app-1': [17, 1], 'app/app-2': [166, 2], 'app/app-3': [17, 0] });
    expect(canaryExposure(away, even)).toBeUndefined();
  });

  it('a few requests or errors never decide', () => {
    expect(
      canaryExposure(mix({ 'app/app-1': [19, 19] }), mix({ 'app/app-1': [10, 0], 'app/app-2': [900, 0] })),
    ).toBe(undefined);
    // 8 errors on the backend the canary favours (of 150 requests): within the spread; 12 are not.
    const baseline = (errors: number): Map<string, BackendCounts> =>
      mix({ 'app/app-1': [100, errors], 'app/app-2': [400, 0] });
    expect(canaryExposure(mix({ 'app/app-1': [50, 4], 'app/app-2': [10, 0] }), baseline(4))).toBeUndefined();
    expect(canaryExposure(mix({ 'app/app-1': [50, 6], 'app/app-2': [10, 0] }), baseline(6))).toMatch(
      /^canary sends 83\.3% of its requests to app\/app-1, which failed 8\.0% .* \(3\.5 standard errors\)$/,
    );
  });

  it('a shift within the spread of a few seconds counts is clean', () => {
    // Same skew, a tenth of the requests: the difference is there but within 3 standard errors.
    const small = mix({ 'app/app-1': [17, 2], 'app/app-2': [2, 0], 'app/app-3': [2, 0] });
    const base = mix({ 'app/app-1': [60, 5], 'app/app-2': [60, 2], 'app/app-3': [60, 2] });
    expect(canaryExposure(small, base)).toBeUndefined();
  });
});
