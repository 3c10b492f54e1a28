import { describe, expect, it } from 'vitest';
import { HostState } from '../data-plane/host-state.ts';
import {
  countOutcome,
  maxEjected,
  nextEjection,
  refusalBackoff,
  successRateOutliers,
  type OutlierOptions,
} from './outlier-detector.ts';

const opts: OutlierOptions = {
  consecutiveErrors: 3,
  consecutiveLocalFailures: 2,
  interval: 10_000,
  baseEjectionTime: 30_000,
  maxEjectionTime: 300_000,
  maxEjectionPercent: 0.5,
};

const mk = (i = 0) =>
  new HostState({
    pool: 'p',
    name: `b${i}`,
    address: `127.0.0.1:${9000 + i}`,
    hostname: '127.0.0.1',
    port: 9000 + i,
    weight: 1,
    maxRequests: 10,
    drain: false,
  });

describe('countOutcome', () => {
  it('returns the reason when a streak reaches its threshold; 0 disables', () => {
    const h = mk();
    expect(countOutcome(h, 'http-5xx', opts)).toBeUndefined();
    expect(countOutcome(h, 'gateway-error', opts)).toBeUndefined();
    expect(countOutcome(h, 'local-failure', opts)).toBeUndefined();
    expect(countOutcome(h, 'http-5xx', opts)).toBe('consecutive-errors');
    expect(countOutcome(h, 'local-failure', opts)).toBe('consecutive-local-failures');
    countOutcome(h, 'success', opts);
    expect([h.consecutiveErrors, h.consecutiveLocalFailures]).toEqual([0, 0]);
    const off = { ...opts, consecutiveErrors: 0, consecutiveLocalFailures: 0 };
    for (let i = 0; i < 50; i++)
      expect(countOutcome(h, i % 2 ? 'http-5xx' : 'local-failure', off)).toBeUndefined();
  });
});

describe('refused connections', () => {
  it('count as local failures for the outlier streaks', () => {
    const h = mk();
    expect(countOutcome(h, 'connect-failure', opts)).toBeUndefined();
    expect(countOutcome(h, 'local-failure', opts)).toBe('consecutive-local-failures');
  });

  it('back off 1 s, doubling per refusal in a row, up to 8 s', () => {
    const h = mk();
    const out: number[] = [];
    for (let i = 0; i < 6; i++) {
      out.push(refusalBackoff(h));
      h.refusals++;
    }
    expect(out).toEqual([1000, 2000, 4000, 8000, 8000, 8000]);
    h.refusals = 1000;
    expect(refusalBackoff(h)).toBe(8000);
  });

  it('a refusal back-off shows as ejected; a success resets the doubling', () => {
    const h = mk();
    h.refusedUntil = 500;
    h.refusals = 3;
    expect(h.deriveStatus(499)).toBe('ejected');
    expect(h.deriveStatus(500)).toBe('healthy');
    h.requestStarted();
    h.requestFinished('success', 1);
    expect(h.refusals).toBe(0);
  });
});

describe('maxEjected', () => {
  it.each([
    [3, 0.5, 1],
    [2, 0.5, 1],
    [4, 0.5, 2],
    [10, 0.1, 1],
    [2, 0.1, 0],
    [3, 1, 3],
    [5, 0, 0],
    [10, 0.3, 3],
  ])('%i hosts at %f → %i', (total, pct, n) => expect(maxEjected(total, pct)).toBe(n));
});

describe('successRateOutliers', () => {
  const sr = { minHosts: 3, minRequests: 10, stdevFactor: 1 };
  const hosts = (rates: [number, number][]) =>
    rates.map(([req, ok], i) => {
      const h = mk(i);
      h.windowRequests = req;
      h.windowSuccesses = ok;
      return h;
    });

  it('flags hosts below mean − k·stdev', () => {
    const hs = hosts([
      [100, 100],
      [100, 99],
      [100, 100],
      [100, 60],
    ]);
    expect(successRateOutliers(hs, sr).map((h) => h.name)).toEqual(['b3']);
  });

  it('needs minHosts hosts with minRequests each', () => {
    const hs = hosts([
      [100, 100],
      [9, 0],
      [100, 50],
    ]);
    expect(successRateOutliers(hs, sr)).toEqual([]);
  });

  it('flags nobody when all are equal', () => {
    expect(
      successRateOutliers(
        hosts([
          [50, 25],
          [50, 25],
          [50, 25],
        ]),
        sr,
      ),
    ).toEqual([]);
  });
});

describe('nextEjection', () => {
  it('grows with the level, caps, and decays while the host stays in', () => {
    const h = mk();
    const r = nextEjection(h, 0, opts, () => 0);
    expect(r).toEqual({ level: 1, durationMs: 30_000 });
    h.ejectionLevel = 9;
    h.lastEjectionEnd = 0;
    expect(nextEjection(h, 1000, opts, () => 0)).toEqual({ level: 10, durationMs: 300_000 });
    // 3 base times in since the last ejection: level 9 − 3 + 1 = 7
    expect(nextEjection(h, 90_000, opts, () => 0)).toEqual({ level: 7, durationMs: 210_000 });
    expect(nextEjection(h, 1000, opts, () => 0.5).durationMs).toBe(285_000);
  });
});
