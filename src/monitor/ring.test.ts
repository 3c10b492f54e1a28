import { describe, expect, it } from 'vitest';
import { histogramQuantile, LATENCY_BOUNDS_MS, latencyBucket, Ring } from './ring.ts';
import { SpaceSaving, WindowedTopKeys } from './hot-keys.ts';

describe('Ring', () => {
  it('sums the newest slots and forgets old ones as time moves', () => {
    const r = new Ring(1000, 5, 2);
    r.add(0, 0, 1);
    r.add(1500, 0, 2);
    r.add(1600, 1, 7);
    expect(r.sum(1600, 0, 5000)).toBe(3);
    expect(r.sum(1600, 0, 1000)).toBe(2);
    expect(r.sum(5500, 0, 5000)).toBe(2); // slot 0 fell out
    expect(r.sum(60_000, 0, 5000)).toBe(0);
    const out = new Float64Array(2);
    r.add(60_000, 1, 4);
    r.accumulate(0, 5, out);
    expect([...out]).toEqual([0, 4]);
  });

  it('holds no slots until the first write, and reads zero until then', () => {
    const r = new Ring(1000, 60, 34);
    r.advance(5000);
    r.advance(70_000);
    const out = new Float64Array(3);
    r.accumulate(0, 60, out);
    expect({ allocated: r.allocated, sum: r.sum(70_000, 0, 60_000), at: r.at(0, 5), out: [...out] }).toEqual({
      allocated: false,
      sum: 0,
      at: 0,
      out: [0, 0, 0],
    });
    // The first write lands in the slot time has moved to, and old slots age out as before.
    r.addAt(71_000, 0, 2, 9);
    r.add(72_500, 0, 4);
    expect(r.allocated).toBe(true);
    expect([r.at(1, 2), r.at(0, 0), r.sum(72_500, 0, 60_000), r.sum(140_000, 2, 60_000)]).toEqual([
      9, 4, 4, 0,
    ]);
  });

  it('adds to an older slot by its age, and ignores an age beyond the ring', () => {
    const r = new Ring(1000, 5, 1);
    r.add(10_200, 0, 1);
    r.addAt(12_900, 2, 0, 5); // slot 10 s, two before the one holding 12.9 s
    r.addAt(12_900, 0, 0, 3);
    r.addAt(12_900, 5, 0, 100);
    r.addAt(12_900, -1, 0, 100);
    expect([r.at(2, 0), r.at(1, 0), r.at(0, 0), r.sum(12_900, 0, 5000)]).toEqual([6, 0, 3, 9]);
  });
});

describe('latency histogram', () => {
  it('buckets by upper bound and interpolates quantiles', () => {
    expect(latencyBucket(0.5)).toBe(0);
    expect(latencyBucket(10)).toBe(LATENCY_BOUNDS_MS.indexOf(10));
    const counts = new Float64Array(LATENCY_BOUNDS_MS.length);
    counts[latencyBucket(8)] = 100; // all in (7, 10]
    const p50 = histogramQuantile(counts, 0.5) as number;
    expect(p50).toBeGreaterThan(7);
    expect(p50).toBeLessThanOrEqual(10);
    expect(histogramQuantile(new Float64Array(3), 0.5)).toBeNull();
  });
});

describe('hot keys', () => {
  it('space-saving keeps a heavy hitter among many keys', () => {
    const s = new SpaceSaving(8);
    for (let i = 0; i < 5000; i++) s.add(i % 2 === 0 ? 'hot' : `k${i}`, i % 2 === 0 ? 'b1' : 'b2');
    expect(s.top()[0]).toMatchObject({ key: 'hot', backend: 'b1' });
    expect(s.top()[0]?.count).toBeGreaterThanOrEqual(2500);
  });

  it('windowed top keys forget a key that stopped', () => {
    const w = new WindowedTopKeys(10_000);
    for (let t = 0; t < 5000; t += 10) w.add(t, 'old', 'b1');
    expect(w.hottest(5000)?.key).toBe('old');
    for (let t = 10_000; t < 20_000; t += 10) w.add(t, `k${t}`, 'b2');
    for (let t = 20_000; t < 25_000; t += 10) w.add(t, 'new', 'b3');
    const h = w.hottest(25_000);
    expect(h?.key).toBe('new');
    expect(h?.share).toBeGreaterThan(0.4);
  });
});
