import { describe, expect, it } from 'vitest';
import { isFulcrumError } from '../core/errors.ts';
import { canaryRegression, formatShare, parseCanaryShare } from './canary.ts';
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
