// Statistical share tests: over 30,000 picks the weighted policies give each host its
// weighted share (exactly for the round robins, within a 5σ binomial bound for the random
// ones), and the load-aware ones steer away from loaded or slow hosts.
import { describe, expect, it } from 'vitest';
import { makePolicy, testHosts, type TestHost } from '../../test/contract/policy-contract.ts';
import type { PickTrace, Policy } from './policy.ts';
import { seededRandom } from './seeded-random.ts';

const N = 30_000;

function counts(policy: Policy<TestHost>, hosts: readonly TestHost[], picks: number): number[] {
  const out = hosts.map(() => 0);
  const index = new Map(hosts.map((h, i) => [h, i]));
  for (let i = 0; i < picks; i++) {
    const h = policy.pick({});
    if (h === undefined) throw new Error('no pick');
    out[index.get(h) as number]! += 1;
  }
  return out;
}

/** |observed − expected| in units of the binomial standard deviation, per host. */
function zScores(observed: readonly number[], weights: readonly number[]): number[] {
  const total = weights.reduce((a, b) => a + b, 0);
  const n = observed.reduce((a, b) => a + b, 0);
  return weights.map((w, i) => {
    const p = w / total;
    return Math.abs((observed[i] as number) - n * p) / Math.sqrt(n * p * (1 - p));
  });
}

/**
 * A closed loop of `concurrency` requests over simulated hosts, on a virtual clock: every
 * pick starts a request whose latency is drawn from an exponential tail (× the host's
 * slowness); once `concurrency` are open, the one due first finishes, so a slow host holds
 * its requests longer, and updates the host's EWMA the way HostState does.
 */
function simulate(
  policy: Policy<TestHost>,
  hosts: TestHost[],
  picks: number,
  concurrency: number,
  slowness: readonly number[] = hosts.map(() => 1),
): number[] {
  const rnd = seededRandom(77);
  const open: { host: TestHost; due: number; ms: number }[] = [];
  let now = 0;
  const out = hosts.map(() => 0);
  for (let i = 0; i < picks; i++) {
    const h = policy.pick({});
    if (h === undefined) throw new Error('no pick');
    out[h.index]! += 1;
    h.inFlight++;
    const ms = (0.5 - Math.log(1 - rnd()) * 0.5) * (slowness[h.index] as number);
    open.push({ host: h, due: now + ms, ms });
    if (open.length >= concurrency) {
      let first = 0;
      for (let j = 1; j < open.length; j++) if (open[j]!.due < open[first]!.due) first = j;
      const done = open.splice(first, 1)[0]!;
      now = done.due;
      const host = done.host;
      host.inFlight--;
      host.latencyEwmaMs =
        host.latencyEwmaMs === 0 ? done.ms : host.latencyEwmaMs + 0.3 * (done.ms - host.latencyEwmaMs);
    }
  }
  return out;
}

describe('weighted shares over 30,000 picks with no load', () => {
  const weightSets = [
    [3, 1, 1],
    [1, 1, 1],
    [5, 2, 2, 1, 0.5],
  ];
  for (const name of ['random', 'least-requests', 'p2c-ewma']) {
    it.each(weightSets.map((w) => [w]))(`${name} stays within 5σ of weights %j`, (weights) => {
      const hosts = testHosts(weights);
      const p = makePolicy(name, 11);
      p.setHosts(hosts);
      for (const z of zScores(counts(p, hosts, N), weights)) expect(z).toBeLessThan(5);
    });
  }

  it.each(weightSets.map((w) => [w]))('weighted-round-robin is within ±1%% of weights %j', (weights) => {
    const hosts = testHosts(weights);
    const p = makePolicy('weighted-round-robin', 11);
    p.setHosts(hosts);
    const c = counts(p, hosts, N);
    const total = weights.reduce((a, b) => a + b, 0);
    weights.forEach((w, i) => expect(Math.abs((c[i] as number) / N - w / total)).toBeLessThanOrEqual(0.01));
  });

  it('round-robin splits evenly within ±1% and ignores weights', () => {
    for (const weights of [
      [1, 1, 1],
      [3, 1, 1],
    ]) {
      const hosts = testHosts(weights);
      const p = makePolicy('round-robin', 11);
      p.setHosts(hosts);
      for (const c of counts(p, hosts, N)) expect(Math.abs(c / N - 1 / 3)).toBeLessThanOrEqual(0.01);
    }
  });

  it('the 5σ check itself rejects a policy that ignores weights', () => {
    const hosts = testHosts([3, 1, 1]);
    const p = makePolicy('round-robin', 11);
    p.setHosts(hosts);
    expect(Math.max(...zScores(counts(p, hosts, N), [3, 1, 1]))).toBeGreaterThan(5);
  });
});

describe('least-requests under load', () => {
  it('takes the less loaded of its two draws', () => {
    const hosts = testHosts([1, 1]);
    (hosts[0] as TestHost).inFlight = 10;
    const p = makePolicy('least-requests', 3);
    p.setHosts(hosts);
    // The loaded host only wins when both draws land on it: 1/4 of the picks.
    const [loaded] = counts(p, hosts, N);
    expect(Math.abs((loaded as number) - N / 4) / Math.sqrt((N * 3) / 16)).toBeLessThan(5);
  });

  it('compares in-flight per unit of weight', () => {
    const hosts = testHosts([4, 1]);
    (hosts[0] as TestHost).inFlight = 3; // 0.75 per unit of weight
    (hosts[1] as TestHost).inFlight = 1; // 1 per unit of weight
    const p = makePolicy('least-requests', 3);
    p.setHosts(hosts);
    // h1 wins only when drawn twice: (1/5)² of the picks.
    const [, light] = counts(p, hosts, N);
    expect(Math.abs((light as number) - N / 25) / Math.sqrt((N * 24) / 625)).toBeLessThan(5);
  });

  it('keeps weighted shares in a closed loop of 16 concurrent requests', () => {
    const weights = [3, 1, 1];
    const p = makePolicy('least-requests', 5);
    const hosts = testHosts(weights);
    p.setHosts(hosts);
    const c = simulate(p, hosts, N, 16);
    c.forEach((x, i) => expect(Math.abs(x / N - (weights[i] as number) / 5)).toBeLessThan(0.02));
  });
});

describe('p2c-ewma with latency data', () => {
  it.each([1, 8])(
    'keeps weighted shares within 5σ when hosts are equally fast (concurrency %i)',
    (concurrency) => {
      const weights = [3, 1, 1];
      const hosts = testHosts(weights);
      const p = makePolicy('p2c-ewma', 5);
      p.setHosts(hosts);
      for (const z of zScores(simulate(p, hosts, N, concurrency), weights)) expect(z).toBeLessThan(5);
    },
  );

  it.each([1, 8])('steers away from a host three times slower (concurrency %i)', (concurrency) => {
    const hosts = testHosts([1, 1, 1]);
    const p = makePolicy('p2c-ewma', 5);
    p.setHosts(hosts);
    const [slow] = simulate(p, hosts, N, concurrency, [3, 1, 1]);
    expect((slow as number) / N).toBeLessThan(0.25);
  });

  it('splits a pairing in inverse proportion to the scores', () => {
    const hosts = testHosts([1, 1]);
    Object.assign(hosts[0] as TestHost, { latencyEwmaMs: 3 });
    Object.assign(hosts[1] as TestHost, { latencyEwmaMs: 1 });
    const p = makePolicy('p2c-ewma', 9);
    p.setHosts(hosts);
    // h0 wins 1/4 of the mixed pairings (1/2 of the picks). Drawn twice (1/4), it looks at a
    // third draw: h0 again (1/2) keeps it; h1 (1/2) scores over 2× better, so they are paired
    // and h0 wins 1/4 of that. P(h0) = 1/2 · 1/4 + 1/4 · (1/2 + 1/2 · 1/4) = 9/32.
    const [slow] = counts(p, hosts, N);
    expect(Math.abs((slow as number) - (N * 9) / 32) / Math.sqrt((N * 207) / 1024)).toBeLessThan(5);
  });

  it('scores latency × (in-flight + weight) / weight and reports it in the trace', () => {
    const hosts = testHosts([1, 2]);
    Object.assign(hosts[0] as TestHost, { latencyEwmaMs: 10, inFlight: 1 });
    Object.assign(hosts[1] as TestHost, { latencyEwmaMs: 2, inFlight: 3 });
    const p = makePolicy('p2c-ewma', 1);
    p.setHosts(hosts);
    const trace: PickTrace = { reason: '', candidates: [] };
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++) {
      p.pick({}, trace);
      expect(trace.reason).toContain('latency × load');
      for (const c of trace.candidates) {
        seen.add(c.name);
        expect(c.score).toBe(c.name === 'h0' ? 10 * 2 : (2 * 5) / 2);
      }
    }
    expect(seen).toEqual(new Set(['h0', 'h1']));
  });
});
