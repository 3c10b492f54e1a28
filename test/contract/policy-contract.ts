// The contract every balancing policy passes (hono's runTest style): call
// runPolicyContract(name) inside a test file and it registers the describe/it blocks.
import { describe, expect, it } from 'vitest';
import type { BalancerHost, PickRequest, PickTrace, Policy } from '../../src/balancer/policy.ts';
import { createPolicy, policyDescriptor } from '../../src/balancer/registry.ts';
import { seededRandom } from '../../src/balancer/seeded-random.ts';

/** A mutable host for policy tests. */
export interface TestHost extends BalancerHost {
  effectiveWeight: number;
  inFlight: number;
  latencyEwmaMs: number;
}

export function testHosts(weights: readonly number[]): TestHost[] {
  return weights.map((w, i) => ({
    index: i,
    name: `h${i}`,
    effectiveWeight: w,
    inFlight: 0,
    latencyEwmaMs: 0,
  }));
}

export function makePolicy(name: string, seed = 1, balanceFactor?: number): Policy<TestHost> {
  return createPolicy<TestHost>(name, {
    random: seededRandom(seed),
    ...(balanceFactor === undefined ? {} : { balanceFactor }),
  });
}

/** Picks `count` times (keys vary, for consistent-hash) and returns the names chosen. */
export function pickNames(
  policy: Policy<TestHost>,
  count: number,
  exclude?: ReadonlySet<TestHost>,
): string[] {
  const out: string[] = [];
  const req: PickRequest = { hashKey: undefined, exclude };
  for (let i = 0; i < count; i++) {
    req.hashKey = `key-${i}`;
    out.push(policy.pick(req)?.name ?? '-');
  }
  return out;
}

export function runPolicyContract(name: string): void {
  describe(`policy contract: ${name}`, () => {
    it('is registered under its config name', () => {
      expect(makePolicy(name).name).toBe(name);
    });

    it('picks nothing from an empty host set', () => {
      const p = makePolicy(name);
      expect(p.pick({})).toBeUndefined();
      p.setHosts([]);
      expect(p.pick({ hashKey: 'k' })).toBeUndefined();
    });

    it('always picks the single host', () => {
      const p = makePolicy(name);
      p.setHosts(testHosts([3]));
      expect(new Set(pickNames(p, 50))).toEqual(new Set(['h0']));
      expect(p.pick({})?.name).toBe('h0');
    });

    it('never picks an excluded host, and nothing when all are excluded', () => {
      const p = makePolicy(name);
      const hosts = testHosts([1, 2, 1, 1]);
      p.setHosts(hosts);
      const exclude = new Set([hosts[1] as TestHost, hosts[2] as TestHost]);
      const names = pickNames(p, 400, exclude);
      expect(new Set(names)).toEqual(new Set(['h0', 'h3']));
      expect(pickNames(p, 20, new Set(hosts))).toEqual(new Array(20).fill('-'));
    });

    it('eventually picks every candidate', () => {
      const p = makePolicy(name);
      p.setHosts(testHosts([1, 1, 2, 1, 1]));
      expect(new Set(pickNames(p, 500))).toEqual(new Set(['h0', 'h1', 'h2', 'h3', 'h4']));
    });

    it('never picks a host of weight 0 if it uses weights', () => {
      const p = makePolicy(name);
      p.setHosts(testHosts([0, 1, 0, 2]));
      const names = new Set(pickNames(p, 1000));
      const { usesWeights } = policyDescriptor(name);
      expect(names).toEqual(usesWeights ? new Set(['h1', 'h3']) : new Set(['h0', 'h1', 'h2', 'h3']));
      p.setHosts(testHosts([0, 0]));
      expect(new Set(pickNames(p, 10))).toEqual(usesWeights ? new Set(['-']) : new Set(['h0', 'h1']));
    });

    it('replaces the host set on setHosts', () => {
      const p = makePolicy(name);
      p.setHosts(testHosts([1, 1, 1]));
      pickNames(p, 10);
      const next = testHosts([1, 1]).map((h, i) => ({ ...h, name: `n${i}` }));
      p.setHosts(next);
      expect(new Set(pickNames(p, 200))).toEqual(new Set(['n0', 'n1']));
    });

    it('is deterministic under a seeded random', () => {
      const run = (seed: number) => {
        const p = makePolicy(name, seed);
        const hosts = testHosts([3, 1, 2, 1]);
        p.setHosts(hosts);
        const names = pickNames(p, 300);
        p.pick({ hashKey: undefined });
        return names.join(',') + p.pick({ hashKey: undefined })?.name;
      };
      expect(run(42)).toBe(run(42));
    });

    it('fills a trace only when one is passed', () => {
      const p = makePolicy(name);
      p.setHosts(testHosts([1, 2, 1]));
      const trace: PickTrace = { reason: '', candidates: [] };
      const h = p.pick({ hashKey: 'user-7' }, trace);
      expect(h).toBeDefined();
      expect(trace.reason).not.toBe('');
      expect(trace.candidates.map((c) => c.name)).toContain(h?.name);
      for (const c of trace.candidates) expect(Number.isFinite(c.score)).toBe(true);
      // A later pick without a trace leaves the earlier one untouched.
      const snapshot = JSON.stringify(trace);
      for (let i = 0; i < 5; i++) p.pick({ hashKey: `user-${i}` });
      expect(JSON.stringify(trace)).toBe(snapshot);
    });
  });
}
