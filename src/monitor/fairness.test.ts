import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  attributeCauses,
  binomialZ,
  DEFAULT_Z,
  jainIndex,
  judgeOverload,
  judgePool,
  type BackendSample,
  type CauseFacts,
} from './fairness.ts';
import { sharesOf } from '../balancer/expected-shares.ts';
import { policyDescriptor } from '../balancer/registry.ts';
import { seeded } from '../testing/monitor-kit.ts';

const opts = { overfed: 1.25, starved: 0.5, minRequestsPerBackend: 100, zThreshold: DEFAULT_Z };

/** A multinomial sample of n requests over the given shares. */
function honestSample(shares: number[], n: number, rnd: () => number): BackendSample[] {
  const counts = shares.map(() => 0);
  for (let i = 0; i < n; i++) {
    let r = rnd();
    let k = 0;
    while (k < shares.length - 1 && r >= (shares[k] as number)) r -= shares[k++] as number;
    counts[k] = (counts[k] as number) + 1;
  }
  return shares.map((p, i) => ({
    name: `b${i}`,
    expectedShare: p,
    requests: counts[i] as number,
    busyMs: 0,
  }));
}

describe('fairness maths', () => {
  it('expected shares follow weights; zero weights get nothing', () => {
    expect(sharesOf([2, 1, 1, 0])).toEqual([0.5, 0.25, 0.25, 0]);
    expect(sharesOf([0, 0])).toEqual([0, 0]);
  });

  it("Jain's index is 1 for equal ratios and 1/n when one backend takes everything", () => {
    expect(jainIndex([1, 1, 1])).toBeCloseTo(1);
    expect(jainIndex([3, 0, 0])).toBeCloseTo(1 / 3);
    expect(jainIndex([])).toBeNull();
  });

  it('binomial z is the observed share in standard errors', () => {
    // 600 of 1000 where 50% is expected: (0.6-0.5)/sqrt(0.25/1000) = 6.32
    expect(binomialZ(0.6, 0.5, 1000)).toBeCloseTo(6.3246, 3);
    expect(binomialZ(1, 1, 1000)).toBe(0);
  });

  it('load-aware policies are judged on concurrency per weight', () => {
    expect(policyDescriptor('least-requests').fairnessMeasure).toBe('in-flight-per-weight');
    expect(policyDescriptor('p2c-ewma').fairnessMeasure).toBe('in-flight-latency-per-weight');
    expect(policyDescriptor('consistent-hash').fairnessMeasure).toBe('requests');
  });

  it('an honest sample never fires (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 10 }), { minLength: 2, maxLength: 6 }),
        fc.integer({ min: 0, max: 20_000 }),
        fc.integer(),
        (weights, n, seed) => {
          const shares = sharesOf(weights);
          const v = judgePool(honestSample(shares, n, seeded(seed)), 'requests', 60_000, opts);
          return v.backends.every((b) => b.verdict === 'ok' || b.verdict === 'insufficient-data');
        },
      ),
      // Fixed seed: at z > 4 an honest check is wrong ~3 in 100 000 times, so an unseeded
      // run of 300 × up to 6 backends would fail now and then for no reason.
      { numRuns: 300, seed: 20_261_124 },
    );
  });

  it('a real skew is called once it is significant, not before minRequestsPerBackend', () => {
    const skew = (n: number): BackendSample[] => [
      { name: 'a', expectedShare: 0.5, requests: Math.round(n * 0.8), busyMs: 0 },
      { name: 'b', expectedShare: 0.5, requests: Math.round(n * 0.2), busyMs: 0 },
    ];
    expect(judgePool(skew(100), 'requests', 60_000, opts).backends.map((b) => b.verdict)).toEqual([
      'insufficient-data',
      'insufficient-data',
    ]);
    const v = judgePool(skew(1000), 'requests', 60_000, opts);
    expect(v.backends.map((b) => b.verdict)).toEqual(['overfed', 'starved']);
    expect(v.backends[0]?.shareRatio).toBeCloseTo(1.6);
    expect(v.jain).toBeLessThan(0.9);
  });

  it('a ratio beyond the threshold but within noise is not called', () => {
    // 1.3× on a tiny expected share with few requests: z below 4.
    const v = judgePool(
      [
        { name: 'a', expectedShare: 0.05, requests: 130, busyMs: 0 },
        { name: 'b', expectedShare: 0.95, requests: 1870, busyMs: 0 },
      ],
      'requests',
      60_000,
      opts,
    );
    expect(v.backends[0]?.shareRatio).toBeGreaterThan(1.25);
    expect(v.backends[0]?.verdict).toBe('ok');
  });

  it('a backend expected to get nothing that gets traffic is overfed', () => {
    const v = judgePool(
      [
        { name: 'drained', expectedShare: 0, requests: 500, busyMs: 0 },
        { name: 'b', expectedShare: 1, requests: 500, busyMs: 0 },
      ],
      'requests',
      60_000,
      opts,
    );
    expect(v.backends[0]?.verdict).toBe('overfed');
    expect(v.backends[0]?.shareRatio).toBeNull();
  });

  it('in-flight-per-weight judges busy time and refuses a verdict at low load', () => {
    const busy = (a: number, b: number): BackendSample[] => [
      { name: 'a', expectedShare: 0.5, requests: 1000, busyMs: a },
      { name: 'b', expectedShare: 0.5, requests: 1000, busyMs: b },
    ];
    const idle = judgePool(busy(1000, 9000), 'in-flight-per-weight', 60_000, opts);
    expect(idle.note).toContain('load too low');
    const loaded = judgePool(busy(60_000 * 9, 60_000 * 1), 'in-flight-per-weight', 60_000, opts);
    expect(loaded.backends.map((b) => b.verdict)).toEqual(['overfed', 'starved']);
  });

  it('p2c-ewma is judged on concurrency × latency: a slow backend that gets fewer requests is fair', () => {
    // b is twice as slow and gets half the concurrency: both carry the same latency-load.
    const samples: BackendSample[] = [
      { name: 'a', expectedShare: 0.5, requests: 4000, busyMs: 4000 * 20 * 2 },
      { name: 'b', expectedShare: 0.5, requests: 1000, busyMs: 1000 * 40 * 2 },
    ];
    const fair = judgePool(samples, 'in-flight-latency-per-weight', 60_000, opts);
    expect(fair.backends.map((b) => b.verdict)).toEqual(['ok', 'ok']);
    expect(fair.backends[0]?.shareRatio).toBeCloseTo(1);
    // Judged on plain concurrency, the same traffic would look unfair.
    expect(judgePool(samples, 'in-flight-per-weight', 60_000, opts).backends[1]?.shareRatio).toBeCloseTo(
      0.67,
      1,
    );
  });

  it('overload needs both more than the capacity share and errors or latency beyond the peers', () => {
    const base = { busyMs: 0, capacity: 1 };
    const v = judgeOverload(
      [
        { name: 'a', requests: 2400, errors: 1000, ...base, busyMs: 2400 * 5 },
        { name: 'b', requests: 300, errors: 0, ...base, busyMs: 300 * 20 },
        { name: 'c', requests: 300, errors: 1, ...base, busyMs: 300 * 20 },
      ],
      opts,
    );
    expect(v.map((x) => x.overloaded)).toEqual([true, false, false]);
    expect(v[0]?.errorOutlier).toBe(true);
    // Same share with a declared capacity that matches it: not overloaded.
    const ok = judgeOverload(
      [
        { name: 'a', requests: 2400, errors: 1000, busyMs: 0, capacity: 8 },
        { name: 'b', requests: 300, errors: 0, busyMs: 0, capacity: 1 },
        { name: 'c', requests: 300, errors: 0, busyMs: 0, capacity: 1 },
      ],
      opts,
    );
    expect(ok[0]?.overloaded).toBe(false);
    // Slow rather than failing also counts.
    const slow = judgeOverload(
      [
        { name: 'a', requests: 2400, errors: 0, busyMs: 2400 * 400, capacity: 1 },
        { name: 'b', requests: 300, errors: 0, busyMs: 300 * 20, capacity: 1 },
      ],
      opts,
    );
    expect(slow[0]?.latencyOutlier && slow[0]?.overloaded).toBe(true);
  });

  it('an honest p2c-ewma over one slow backend is "slow", not overfed', () => {
    // b3 is 8× slower; p2c-ewma steers around it (5% of the requests instead of a third),
    // yet it holds more in flight per request: concurrency × latency would call it overfed.
    const samples: BackendSample[] = [
      { name: 'b1', expectedShare: 1 / 3, requests: 9500, busyMs: 9500 * 20 },
      { name: 'b2', expectedShare: 1 / 3, requests: 9500, busyMs: 9500 * 20 },
      { name: 'b3', expectedShare: 1 / 3, requests: 1000, busyMs: 1000 * 160 },
    ];
    const v = judgePool(samples, 'in-flight-latency-per-weight', 60_000, opts);
    expect(v.backends.map((b) => b.verdict)).toEqual(['ok', 'ok', 'slow']);
    expect(v.backends[2]?.shareRatio).toBeGreaterThan(opts.overfed);
    expect(v.backends[2]?.latencyFactor).toBeCloseTo(8);
    // Under least-requests too.
    expect(judgePool(samples, 'in-flight-per-weight', 60_000, opts).backends[2]?.verdict).toBe('slow');
    // A load-aware policy that does not steer around it (a third of the requests) is not balancing.
    const blind = samples.map((s) => ({ ...s, requests: 6000, busyMs: (s.busyMs / s.requests) * 6000 }));
    expect(judgePool(blind, 'in-flight-per-weight', 60_000, opts).backends[2]?.verdict).toBe('overfed');
    // Request counts are what round-robin is judged on: slowness is no verdict there.
    expect(judgePool(samples, 'requests', 60_000, opts).backends[2]?.verdict).toBe('starved');
  });

  it('a window across a rollback to p2c-ewma: a slower backend steered around is not overfed', () => {
    // What backend-slowdown's window holds after the guard returns to p2c-ewma: b3 got a
    // little under a third of the requests at 1.8× its peers' latency (not yet an outlier).
    // Concurrency × latency gives it 55% of the load; the balancer sent it fewer requests.
    const samples: BackendSample[] = [
      { name: 'b1', expectedShare: 1 / 3, requests: 150, busyMs: 150 * 100 },
      { name: 'b2', expectedShare: 1 / 3, requests: 150, busyMs: 150 * 100 },
      { name: 'b3', expectedShare: 1 / 3, requests: 140, busyMs: 140 * 180 },
    ];
    const v = judgePool(samples, 'in-flight-latency-per-weight', 5_000, {
      ...opts,
      minRequestsPerBackend: 20,
    });
    expect(v.backends.map((b) => b.verdict)).toEqual(['ok', 'ok', 'ok']);
    // Set aside, b1 and b2 are judged between themselves: half each.
    expect(v.backends[0]?.shareRatio).toBeCloseTo(1);
    expect(v.backends[2]?.shareRatio).toBeGreaterThan(1.25);
    // Round-robin fed it a third of the traffic, and it answered 503 to a good part of it:
    // at 1.8× the latency it has about a fifth of the pool's throughput. Overloaded.
    const o = judgeOverload(
      samples.map((s) => ({ ...s, errors: s.name === 'b3' ? 25 : 0, capacity: 1 })),
      { ...opts, minRequestsPerBackend: 20 },
    );
    expect(o.map((x) => x.overloaded)).toEqual([false, false, true]);
    expect(o[2]).toMatchObject({
      overCapacity: false,
      overSlow: true,
      errorOutlier: true,
      latencyOutlier: false,
    });
  });

  it('a backend that is down is never starved: its expected share is 0 while out', () => {
    const samples: BackendSample[] = [
      { name: 'b1', expectedShare: 0.45, requests: 900, busyMs: 0 },
      { name: 'b2', expectedShare: 0.1, requests: 0, busyMs: 0, down: true },
      { name: 'b3', expectedShare: 0.45, requests: 900, busyMs: 0 },
    ];
    expect(judgePool(samples, 'requests', 60_000, opts).backends.map((b) => b.verdict)).toEqual([
      'ok',
      'down',
      'ok',
    ]);
    const up = samples.map(({ down: _down, ...s }) => s);
    expect(judgePool(up, 'requests', 60_000, opts).backends[1]?.verdict).toBe('starved');
  });

  it('holds a slow backend against its throughput: round-robin over it is overload', () => {
    // Equal capacity declared (concurrent), but b3 is 8× slower, so it serves 8× fewer per
    // second; a third of the traffic is far beyond that, and it answers 503 beyond it.
    const rr = judgeOverload(
      [
        { name: 'b1', requests: 1000, errors: 0, busyMs: 1000 * 100, capacity: 1 },
        { name: 'b2', requests: 1000, errors: 0, busyMs: 1000 * 100, capacity: 1 },
        { name: 'b3', requests: 1000, errors: 600, busyMs: 400 * 800 + 600 * 1, capacity: 1 },
      ],
      opts,
    );
    expect(rr.map((x) => x.overloaded)).toEqual([false, false, true]);
    expect(rr[2]).toMatchObject({ overCapacity: false, overSlow: true, latencyOutlier: true });
    expect(rr[2]?.throughputShare).toBeLessThan(0.2);
    // p2c-ewma sending it about its throughput share: not overloaded.
    const p2c = judgeOverload(
      [
        { name: 'b1', requests: 1400, errors: 0, busyMs: 1400 * 100, capacity: 1 },
        { name: 'b2', requests: 1400, errors: 0, busyMs: 1400 * 100, capacity: 1 },
        { name: 'b3', requests: 200, errors: 0, busyMs: 200 * 800, capacity: 1 },
      ],
      opts,
    );
    expect(p2c.map((x) => x.overloaded)).toEqual([false, false, false]);
    // After the rollback: few requests left in the window, but a quarter of them failed and
    // they take 2.5× its peers' time. Failing and slow beyond its peers is overloaded whatever
    // its share.
    const after = judgeOverload(
      [
        { name: 'b1', requests: 164, errors: 0, busyMs: 164 * 100, capacity: 1 },
        { name: 'b2', requests: 185, errors: 0, busyMs: 185 * 100, capacity: 1 },
        { name: 'b3', requests: 97, errors: 17, busyMs: 97 * 250, capacity: 1 },
      ],
      { ...opts, minRequestsPerBackend: 20 },
    );
    expect(after.map((x) => x.overloaded)).toEqual([false, false, true]);
    expect(after[2]).toMatchObject({
      overCapacity: false,
      overSlow: false,
      errorOutlier: true,
      latencyOutlier: true,
    });
  });

  describe('cause attribution', () => {
    const facts: CauseFacts = {
      verdict: 'overfed',
      policy: 'consistent-hash',
      hashKeyed: true,
      backend: 'app-2',
      hotKey: { key: 'user-42', share: 0.7, backend: 'app-2' },
      hashKeySource: 'header:x-user-id',
      flips: 0,
      peerFlips: 0,
      reloads: 0,
      weight: 1,
      peerWeight: 1,
      weightsSince: undefined,
      peersDown: [],
    };

    it('names a hot hash key on the backend it lands on', () => {
      const c = attributeCauses(facts);
      expect(c[0]?.kind).toBe('hot-hash-key');
      expect(c[0]?.text).toContain('"user-42" (header:x-user-id) carries 70%');
    });

    it('falls back to hash affinity, flapping, reloads, and finally says nothing known explains it', () => {
      expect(attributeCauses({ ...facts, hotKey: undefined })[0]?.kind).toBe('hash-affinity');
      const rr = { ...facts, policy: 'round-robin', hashKeyed: false, hotKey: undefined };
      expect(attributeCauses({ ...rr, flips: 3 })[0]?.kind).toBe('flapping-health');
      expect(attributeCauses({ ...rr, reloads: 2 })[0]?.kind).toBe('per-process-state');
      const none = attributeCauses(rr);
      expect(none.map((c) => c.kind)).toEqual(['unexplained']);
      expect(none[0]?.text).not.toContain('bug');
    });

    it('calls it a bug only when the pick sequence provably deviates', () => {
      const rr = { ...facts, policy: 'round-robin', hashKeyed: false, hotKey: undefined };
      const within = { expected: 300, observed: 340, slack: 50 };
      expect(attributeCauses({ ...rr, pickDeviation: within })[0]?.kind).toBe('unexplained');
      const beyond = { expected: 300, observed: 400, slack: 50 };
      const c = attributeCauses({ ...rr, pickDeviation: beyond });
      expect(c.map((x) => x.kind)).toEqual(['bug']);
      expect(c[0]?.text).toBe(
        'round-robin does not follow its weights: app-2 got 400 requests where its pick sequence gives 300 ± 50, with no health change, retry, reload or panic in the window (likely a bug)',
      );
    });

    it('names retries away from a dead peer, and panic, before anything else', () => {
      const rr = {
        ...facts,
        policy: 'weighted-round-robin',
        hashKeyed: false,
        hotKey: undefined,
        backend: 'b1',
      };
      const retried = { from: ['b3'], to: ['b1', 'b2'] };
      const c = attributeCauses({ ...rr, retries: retried, panic: true, peerFlips: 2 });
      expect(c.map((x) => x.kind)).toEqual(['retries', 'panic', 'flapping-health']);
      expect(c[0]?.text).toBe('b3 down: its traffic was retried to b1, b2');
      expect(c.some((x) => x.kind === 'bug')).toBe(false);
      // Retries that went elsewhere do not explain this backend's share.
      const elsewhere = attributeCauses({ ...rr, retries: { from: ['b3'], to: ['b2'] } });
      expect(elsewhere.map((x) => x.kind)).toEqual(['unexplained']);
      // An overload names the config's weights first, then the peers and the retries.
      const over = attributeCauses({
        ...rr,
        verdict: 'overloaded',
        weight: 8,
        peerWeight: 1,
        peersDown: ['b3 (unhealthy)'],
        retries: retried,
      });
      expect(over.map((x) => x.kind)).toEqual(['weight-skew', 'peers-removed-by-health', 'retries']);
      // Before health names the dead peer, the retries are still named.
      expect(attributeCauses({ ...rr, retries: { from: [], to: ['b1'] } })[0]?.text).toBe(
        'requests that failed on a peer were retried to b1',
      );
    });

    it('names weight skew with the version, time and author that introduced it', () => {
      const c = attributeCauses({
        ...facts,
        verdict: 'overloaded',
        policy: 'weighted-round-robin',
        hashKeyed: false,
        hotKey: undefined,
        weight: 8,
        peerWeight: 1,
        weightsSince: { version: 7, exact: true, createdAt: Date.UTC(2026, 0, 2), author: 'alice' },
        peersDown: ['app-3 (unhealthy)'],
      });
      expect(c.map((x) => x.kind)).toEqual(['weight-skew', 'peers-removed-by-health']);
      expect(c[0]?.text).toBe(
        'weights skewed 8:1 (app-2 weight 8, peers 1) since config version 7 applied 2026-01-02T00:00:00.000Z by alice',
      );
      expect(c[1]?.text).toContain('app-3 (unhealthy)');
    });

    it('names weights that a later version replaced (a rollback) with both versions', () => {
      const c = attributeCauses({
        ...facts,
        verdict: 'overloaded',
        policy: 'weighted-round-robin',
        hashKeyed: false,
        hotKey: undefined,
        reloads: 2,
        weight: 10,
        peerWeight: 1,
        weightsSince: { version: 2, exact: true, until: 3 },
      });
      expect(c.map((x) => x.kind)).toEqual(['weight-skew']);
      expect(c[0]?.text).toBe(
        'weights skewed 10:1 (app-2 weight 10, peers 1) since config version 2, until config version 3',
      );
    });

    it('blames a slow backend on its latency, not on reloads', () => {
      const slow = {
        ...facts,
        backend: 'b3',
        policy: 'p2c-ewma',
        hashKeyed: false,
        hotKey: undefined,
        reloads: 2,
        slow: { meanMs: 800, peerMeanMs: 100 },
      };
      const over = attributeCauses(slow);
      expect(over[0]).toEqual({
        kind: 'slow-backend',
        text: 'b3 is slow (latency 8.0× its peers: mean 800 ms against 100 ms)',
      });
      expect(over.some((x) => x.kind === 'per-process-state')).toBe(false);
      expect(
        attributeCauses({ ...slow, verdict: 'overloaded', policy: 'round-robin', hashKeyed: false })[0]?.kind,
      ).toBe('slow-backend');
      // Without the latency facts the same reloads are the suspect.
      expect(attributeCauses({ ...slow, slow: undefined })[0]?.kind).toBe('per-process-state');
    });

    it('blames a starved backend that was out on its health state, not a bug', () => {
      const rr = {
        ...facts,
        verdict: 'starved' as const,
        backend: 'b2',
        policy: 'round-robin',
        hashKeyed: false,
        hotKey: undefined,
      };
      expect(attributeCauses(rr)[0]?.kind).toBe('unexplained');
      const c = attributeCauses({ ...rr, reloads: 1, ownState: 'is unhealthy' });
      expect(c.map((x) => x.kind)).toEqual(['health-state']);
      expect(c[0]?.text).toBe(
        'b2 is unhealthy: health checking takes it out, and its expected share is 0 while it is out',
      );
    });
  });
});
