import { describe, expect, it } from 'vitest';
import { testHosts, type TestHost } from '../../test/contract/policy-contract.ts';
import { seededRandom } from './seeded-random.ts';
import { WeightedSampler } from './weighted-sampler.ts';

/** A random source that walks a fine grid of [0, 1): M draws cover it exactly once. */
function gridRandom(m: number): () => number {
  let k = 0;
  return () => ((k++ % m) + 0.5) / m;
}

function histogram(sampler: WeightedSampler<TestHost>, draws: number, exclude?: ReadonlySet<TestHost>) {
  const counts = new Map<string, number>();
  for (let i = 0; i < draws; i++) {
    const idx = sampler.pick(exclude);
    const name = idx < 0 ? '-' : (sampler.hosts[idx] as TestHost).name;
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return counts;
}

describe('WeightedSampler (alias method)', () => {
  it.each([[[3, 1, 1]], [[1, 2, 3, 4]], [[0.25, 7, 0.75]], [[1, 1, 1, 1, 1, 1, 1]]])(
    'hits weights %j exactly when the random source covers [0, 1) evenly',
    (weights) => {
      const m = 100_000;
      const sampler = new WeightedSampler<TestHost>(gridRandom(m));
      sampler.set(testHosts(weights));
      const counts = histogram(sampler, m);
      const total = weights.reduce((a, b) => a + b, 0);
      weights.forEach((w, i) => {
        expect(Math.abs((counts.get(`h${i}`) ?? 0) - (m * w) / total)).toBeLessThanOrEqual(weights.length);
      });
    },
  );

  it('leaves out hosts of weight 0 and non-finite weights', () => {
    const sampler = new WeightedSampler<TestHost>(seededRandom(3));
    sampler.set(testHosts([0, 2, 0, Number.NaN, 1]));
    expect(sampler.hosts.map((h) => h.name)).toEqual(['h1', 'h4']);
    expect(sampler.totalWeight).toBe(3);
  });

  it('draws by weight among the hosts left after exclusions, through the scan fallback', () => {
    const sampler = new WeightedSampler<TestHost>(seededRandom(5));
    const hosts = testHosts([100, 1, 3]);
    sampler.set(hosts);
    // h0 carries 97% of the weight: plain draws almost always miss, so the scan decides.
    const counts = histogram(sampler, 8000, new Set([hosts[0] as TestHost]));
    expect(counts.get('h0')).toBeUndefined();
    const h2 = counts.get('h2') ?? 0;
    // 3:1 between h2 and h1: 6000 expected, 5σ = 5·sqrt(8000·0.75·0.25) ≈ 194.
    expect(Math.abs(h2 - 6000)).toBeLessThan(194);
    expect(histogram(sampler, 10, new Set(hosts))).toEqual(new Map([['-', 10]]));
  });
});

describe('seededRandom', () => {
  it('repeats a sequence for a seed and stays in [0, 1)', () => {
    const a = seededRandom(9);
    const b = seededRandom(9);
    for (let i = 0; i < 1000; i++) {
      const x = a();
      expect(x).toBe(b());
      expect(x >= 0 && x < 1).toBe(true);
    }
    expect(seededRandom(10)()).not.toBe(seededRandom(9)());
  });
});
