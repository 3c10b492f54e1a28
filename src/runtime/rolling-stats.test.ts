import { describe, expect, it } from 'vitest';
import { RollingStats } from './rolling-stats.ts';

describe('RollingStats', () => {
  it('counts requests and 5xx per window at one-second resolution', () => {
    let now = 1_000_000;
    const s = new RollingStats(() => now);
    for (let i = 0; i < 10; i++) s.record(200, 3);
    s.record(503, 3);
    s.record(499, 3); // not a server error
    now += 1000;
    for (let i = 0; i < 5; i++) s.record(502, 40);
    expect(s.window(1_000_000, 1_001_000)).toEqual({ requests: 12, errors: 1, errorRatio: 1 / 12, p99Ms: 5 });
    expect(s.window(1_001_000, 1_002_000)).toEqual({ requests: 5, errors: 5, errorRatio: 1, p99Ms: 50 });
    expect(s.window(1_000_000, 1_002_000).requests).toBe(17);
    expect(s.window(2_000_000, 2_001_000)).toEqual({ requests: 0, errors: 0, errorRatio: 0, p99Ms: 0 });
  });

  it('takes the p99 from the histogram bucket holding the 99th percentile', () => {
    const s = new RollingStats(() => 5_000);
    for (let i = 0; i < 99; i++) s.record(200, 1);
    s.record(200, 900);
    expect(s.window(5_000, 6_000).p99Ms).toBe(1);
    s.record(200, 20_000); // beyond the last bound: +Inf
    s.record(200, 20_000);
    expect(s.window(5_000, 6_000).p99Ms).toBe(Infinity);
  });

  it('reuses a bucket ten minutes later without keeping its old counts', () => {
    let now = 0;
    const s = new RollingStats(() => now);
    s.record(500, 1);
    now = 600_000; // the same ring slot, 600 s later
    s.record(200, 1);
    expect(s.window(0, 1000).requests).toBe(0);
    expect(s.window(600_000, 601_000)).toMatchObject({ requests: 1, errors: 0 });
  });
});
