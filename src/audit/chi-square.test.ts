import { describe, expect, it } from 'vitest';
import { chiSquare, gammaQ, lnGamma } from './chi-square.ts';

describe('chi-square', () => {
  it('lnGamma matches factorials', () => {
    expect(lnGamma(1)).toBeCloseTo(0, 10);
    expect(lnGamma(5)).toBeCloseTo(Math.log(24), 10);
    expect(lnGamma(0.5)).toBeCloseTo(Math.log(Math.sqrt(Math.PI)), 10);
  });

  it('p-values match the textbook critical values', () => {
    // Upper 5% points of the chi-square distribution for df 1, 2, 10 and the 1% point for df 2.
    expect(gammaQ(0.5, 3.841 / 2)).toBeCloseTo(0.05, 3);
    expect(gammaQ(1, 5.991 / 2)).toBeCloseTo(0.05, 3);
    expect(gammaQ(5, 18.307 / 2)).toBeCloseTo(0.05, 3);
    expect(gammaQ(1, 9.21 / 2)).toBeCloseTo(0.01, 3);
    expect(gammaQ(3, 0)).toBe(1);
  });

  it('a perfect fit has statistic 0 and p 1; a big skew has a tiny p', () => {
    expect(chiSquare([200, 200, 200], [1 / 3, 1 / 3, 1 / 3])).toEqual({
      statistic: 0,
      degreesOfFreedom: 2,
      pValue: 1,
    });
    const skew = chiSquare([500, 50, 50], [1 / 3, 1 / 3, 1 / 3]);
    expect(skew.statistic).toBeCloseTo(675, 6);
    expect(skew.pValue).toBeLessThan(1e-12);
  });

  it('the same share deviation is noise with few probes and significant with many', () => {
    const few = chiSquare([12, 9, 9], [1 / 3, 1 / 3, 1 / 3]);
    const many = chiSquare([1200, 900, 900], [1 / 3, 1 / 3, 1 / 3]);
    expect(few.pValue).toBeGreaterThan(0.5);
    expect(many.pValue).toBeLessThan(1e-6);
  });

  it('leaves out categories with an expected share of 0', () => {
    const r = chiSquare([100, 100, 7], [0.5, 0.5, 0]);
    expect(r.degreesOfFreedom).toBe(1);
    expect(r.statistic).toBe(0);
  });
});
