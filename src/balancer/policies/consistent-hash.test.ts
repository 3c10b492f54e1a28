import { describe, expect, it } from 'vitest';
import { makePolicy, testHosts, type TestHost } from '../../../test/contract/policy-contract.ts';
import {
  buildRing,
  hash32,
  keysMoved,
  MAX_RING_POINTS,
  MIN_RING_POINTS,
  POINTS_PER_WEIGHT,
  ringOwner,
  type RingMember,
} from '../hash-ring.ts';
import type { PickTrace } from '../policy.ts';

const KEYS = 20_000;

function members(n: number, weight = 1): RingMember[] {
  return Array.from({ length: n }, (_, i) => ({ name: `app-${i + 1}`, weight }));
}

function owners(list: readonly RingMember[]): (string | undefined)[] {
  const ring = buildRing(list);
  return Array.from({ length: KEYS }, (_, i) => ringOwner(ring, list, `user-${i}`));
}

function named(weights: readonly number[]): TestHost[] {
  return testHosts(weights).map((h, i) => ({ ...h, name: `app-${i + 1}` }));
}

describe('hash ring', () => {
  it('hashes without surprises: stable, 32-bit, spread', () => {
    expect(hash32('user-1')).toBe(hash32('user-1'));
    expect(hash32('user-1')).not.toBe(hash32('user-2'));
    const h = hash32('');
    expect(Number.isInteger(h) && h >= 0 && h < 2 ** 32).toBe(true);
  });

  it('gives members points in proportion to weight, none to weight 0', () => {
    const ring = buildRing([
      { name: 'a', weight: 4 },
      { name: 'b', weight: 1 },
      { name: 'c', weight: 0 },
    ]);
    const per = [0, 0, 0];
    for (const o of ring.owners) per[o]! += 1;
    expect(per).toEqual([4 * POINTS_PER_WEIGHT, POINTS_PER_WEIGHT, 0]);
    for (let i = 1; i < ring.points.length; i++) expect(ring.points[i]! >= ring.points[i - 1]!).toBe(true);
  });

  it('keeps big pools within the ring size bound, and small weights well spread', () => {
    expect(buildRing(members(200, 10)).points.length).toBeLessThanOrEqual(MAX_RING_POINTS);
    expect(buildRing(members(3, 0.01)).points.length).toBeGreaterThanOrEqual(MIN_RING_POINTS);
  });

  it('spreads keys close to the weight shares', () => {
    const list = [
      { name: 'app-1', weight: 2 },
      { name: 'app-2', weight: 1 },
      { name: 'app-3', weight: 1 },
    ];
    const got = owners(list);
    const share = (n: string) => got.filter((o) => o === n).length / KEYS;
    expect(share('app-1')).toBeGreaterThan(0.5 * 0.85);
    expect(share('app-1')).toBeLessThan(0.5 * 1.15);
    expect(share('app-2')).toBeGreaterThan(0.25 * 0.8);
    expect(share('app-3')).toBeGreaterThan(0.25 * 0.8);
  });

  it.each([3, 5, 10])('adding a host to %i moves about 1/(n+1) of keys, all of them to it', (n) => {
    const before = owners(members(n));
    const after = owners(members(n + 1));
    const added = `app-${n + 1}`;
    let moved = 0;
    for (let i = 0; i < KEYS; i++) {
      if (before[i] === after[i]) continue;
      moved++;
      expect(after[i]).toBe(added);
    }
    const ideal = 1 / (n + 1);
    expect(moved / KEYS).toBeGreaterThan(ideal * 0.75);
    expect(moved / KEYS).toBeLessThan(ideal * 1.25);
  });

  it('doubling one weight moves keys only to that host', () => {
    const before = owners(members(4));
    const after = owners(members(4).map((m) => (m.name === 'app-2' ? { ...m, weight: 2 } : m)));
    let moved = 0;
    for (let i = 0; i < KEYS; i++) {
      if (before[i] === after[i]) continue;
      moved++;
      expect(after[i]).toBe('app-2');
    }
    expect(moved).toBeGreaterThan(0);
  });

  it('removing a host moves only the keys it owned', () => {
    const before = owners(members(6));
    const after = owners(members(6).filter((m) => m.name !== 'app-4'));
    for (let i = 0; i < KEYS; i++) if (before[i] !== after[i]) expect(before[i]).toBe('app-4');
  });

  it('keysMoved measures the fraction of keys that change backend', () => {
    expect(keysMoved(members(4), members(4))).toBe(0);
    const added = keysMoved(members(4), members(5));
    expect(added).toBeGreaterThan(0.2 * 0.75);
    expect(added).toBeLessThan(0.2 * 1.25);
    const heavier = members(4).map((m) => (m.name === 'app-1' ? { ...m, weight: 2 } : m));
    const moved = keysMoved(members(4), heavier, 5000);
    // app-1 goes from 1/4 to 2/5 of the keys: 0.15 move (to app-1 only).
    expect(moved).toBeGreaterThan(0.15 * 0.7);
    expect(moved).toBeLessThan(0.15 * 1.3);
    expect(keysMoved([], members(2))).toBe(1);
    expect(keysMoved([], [])).toBe(0);
  });
});

describe('consistent-hash policy', () => {
  it('sends the same key to the same host, in every instance', () => {
    const a = makePolicy('consistent-hash', 1);
    const b = makePolicy('consistent-hash', 999);
    a.setHosts(named([1, 1, 1, 1]));
    b.setHosts(named([1, 1, 1, 1]));
    for (let i = 0; i < 500; i++) {
      const first = a.pick({ hashKey: `user-${i}` })?.name;
      expect(a.pick({ hashKey: `user-${i}` })?.name).toBe(first);
      expect(b.pick({ hashKey: `user-${i}` })?.name).toBe(first);
    }
  });

  it('agrees with the pure ring, so keysMoved predicts what the policy does', () => {
    const p = makePolicy('consistent-hash');
    const hosts = named([2, 1, 1]);
    p.setHosts(hosts);
    const list = hosts.map((h) => ({ name: h.name, weight: h.effectiveWeight }));
    const ring = buildRing(list);
    for (let i = 0; i < 500; i++) {
      expect(p.pick({ hashKey: `k${i}` })?.name).toBe(ringOwner(ring, list, `k${i}`));
    }
  });

  it('spreads a hot key once its host reaches the load bound', () => {
    const factor = 1.25;
    const p = makePolicy('consistent-hash', 1, factor);
    const hosts = named([1, 1, 1, 1]);
    p.setHosts(hosts);
    const home = p.pick({ hashKey: 'hot' }) as TestHost;
    // Every request for the hot key stays open: in-flight rises with each pick.
    for (let total = 0; total < 200; total++) {
      const h = p.pick({ hashKey: 'hot' }) as TestHost;
      const bound = Math.ceil(factor * (total + 1) * 0.25);
      expect(h.inFlight).toBeLessThan(bound);
      h.inFlight++;
    }
    // The home and the next hosts clockwise fill up to the bound (63 of 200 each), the
    // last one takes the rest: the hot key spread over all four hosts.
    for (const h of hosts) {
      expect(h.inFlight).toBeGreaterThan(0);
      expect(h.inFlight).toBeLessThanOrEqual(Math.ceil(factor * 200 * 0.25));
    }
    expect(home.inFlight).toBe(Math.max(...hosts.map((h) => h.inFlight)));
    expect(hosts.filter((h) => h.inFlight >= 60)).toHaveLength(3);
    // Once the load is gone, the key goes home again.
    for (const h of hosts) h.inFlight = 0;
    expect(p.pick({ hashKey: 'hot' })).toBe(home);
  });

  it('weighs the load bound by weight share', () => {
    const p = makePolicy('consistent-hash', 1, 1);
    const hosts = named([3, 1]);
    p.setHosts(hosts);
    for (let i = 0; i < 400; i++) (p.pick({ hashKey: 'hot' }) as TestHost).inFlight++;
    // With balanceFactor 1 the loads end exactly at the weight shares.
    expect(hosts.map((h) => h.inFlight)).toEqual([300, 100]);
  });

  it('judges the bound by the pool total its hosts keep, without adding up 1,000 hosts', () => {
    const p = makePolicy('consistent-hash', 1, 1.25);
    const hosts = named(Array.from({ length: 1000 }, () => 1));
    p.setHosts(hosts);
    const home = p.pick({ hashKey: 'k' }) as TestHost;
    // 5 in flight on the home alone: summed, T = 5 and the home is full (bound 1).
    home.inFlight = 5;
    expect(p.pick({ hashKey: 'k' })).not.toBe(home);
    // The hosts say 10,000 are in flight on the pool (bound ceil(1.25 × 10,001 / 1,000) = 13):
    // the policy takes their word, and the home has room, without reading any other host's
    // in-flight count.
    let reads = 0;
    const kept = hosts.map((h) =>
      h === home
        ? { ...h, poolInFlight: 10_000 }
        : {
            ...h,
            get inFlight(): number {
              reads++;
              return 0;
            },
            poolInFlight: 10_000,
          },
    );
    p.setHosts(kept);
    expect(p.pick({ hashKey: 'k' })?.name).toBe(home.name);
    expect(reads).toBe(0);
  });

  it('explains a walk past a full home in the trace', () => {
    const p = makePolicy('consistent-hash', 1, 1.25);
    const hosts = named([1, 1]);
    p.setHosts(hosts);
    const home = p.pick({ hashKey: 'k' }) as TestHost;
    home.inFlight = 10;
    const trace: PickTrace = { reason: '', candidates: [] };
    const h = p.pick({ hashKey: 'k' }, trace);
    expect(h).not.toBe(home);
    expect(trace.reason).toContain(`ring home ${home.name} full`);
    expect(trace.candidates).toEqual([
      { name: home.name, score: 10 },
      { name: h?.name, score: 0 },
    ]);
  });

  it('walks past an excluded home to the next host clockwise', () => {
    const p = makePolicy('consistent-hash');
    const hosts = named([1, 1, 1]);
    p.setHosts(hosts);
    for (let i = 0; i < 100; i++) {
      const home = p.pick({ hashKey: `u${i}` }) as TestHost;
      const next = p.pick({ hashKey: `u${i}`, exclude: new Set([home]) });
      expect(next).toBeDefined();
      expect(next).not.toBe(home);
      // The same key walks to the same second choice every time.
      expect(p.pick({ hashKey: `u${i}`, exclude: new Set([home]) })).toBe(next);
    }
  });

  it('without a key, draws a random host by weight', () => {
    const p = makePolicy('consistent-hash', 4);
    const hosts = named([3, 1]);
    p.setHosts(hosts);
    let heavy = 0;
    for (let i = 0; i < 4000; i++) if (p.pick({ hashKey: undefined }) === hosts[0]) heavy++;
    // 3000 expected, 5σ = 5·sqrt(4000·0.75·0.25) ≈ 137.
    expect(Math.abs(heavy - 3000)).toBeLessThan(137);
  });
});
