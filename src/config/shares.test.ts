import { describe, expect, it } from 'vitest';
import { configSchema, type PoolConfig } from './schema.ts';
import { predictShares } from './shares.ts';

function pool(yamlish: Record<string, unknown>): PoolConfig {
  const config = configSchema.parse({
    version: 1,
    listeners: { web: { address: '127.0.0.1:8080', routes: [{ pool: 'p' }] } },
    pools: { p: yamlish },
  });
  return config.pools.p!;
}

const backends = (...weights: number[]) =>
  weights.map((weight, i) => ({ name: `b${i + 1}`, address: `127.0.0.1:${9001 + i}`, weight }));

describe('predictShares', () => {
  it('divides by configured weight on a weighted policy', () => {
    const shares = predictShares(pool({ policy: 'weighted-round-robin', backends: backends(10, 1, 1) }));
    expect(shares.map((s) => s.backend)).toEqual(['b1', 'b2', 'b3']);
    expect(shares.map((s) => s.expectedShare)).toEqual([10 / 12, 1 / 12, 1 / 12]);
    expect(shares.map((s) => s.weight)).toEqual([10, 1, 1]);
  });

  it('gives equal shares on round-robin, which ignores weights', () => {
    const shares = predictShares(pool({ policy: 'round-robin', backends: backends(10, 1, 1, 2) }));
    expect(shares.map((s) => s.expectedShare)).toEqual([0.25, 0.25, 0.25, 0.25]);
  });

  it('gives drained and weight-0 backends nothing, on any policy', () => {
    for (const policy of ['round-robin', 'least-requests']) {
      const bs = [...backends(3, 1, 0), { name: 'd', address: '127.0.0.1:9009', weight: 5, drain: true }];
      const shares = predictShares(pool({ policy, backends: bs }));
      const expected = policy === 'round-robin' ? [0.5, 0.5, 0, 0] : [0.75, 0.25, 0, 0];
      expect(shares.map((s) => s.expectedShare)).toEqual(expected);
    }
  });

  it('returns zeros, not NaN, when nothing can take traffic', () => {
    const bs = backends(1, 1).map((b) => ({ ...b, drain: true }));
    expect(predictShares(pool({ backends: bs })).map((s) => s.expectedShare)).toEqual([0, 0]);
  });

  it('sums to 1 whenever some backend serves', () => {
    const shares = predictShares(pool({ policy: 'random', backends: backends(0.5, 1.5, 7, 3) }));
    expect(shares.reduce((s, x) => s + x.expectedShare, 0)).toBeCloseTo(1, 12);
  });
});
