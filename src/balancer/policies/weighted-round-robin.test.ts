import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { testHosts, type TestHost } from '../../../test/contract/policy-contract.ts';
import type { Policy } from '../policy.ts';
import { constantRandom, seededRandom } from '../seeded-random.ts';
import { weightedRoundRobin } from './weighted-round-robin.ts';

/** Hosts named a, b, c... for readable sequences. */
function lettered(weights: readonly number[]): TestHost[] {
  return testHosts(weights).map((h, i) => ({ ...h, name: String.fromCharCode(97 + i) }));
}

function sequence(policy: Policy<TestHost>, count: number): string {
  let s = '';
  for (let i = 0; i < count; i++) s += policy.pick({})?.name ?? '-';
  return s;
}

function wrr(weights: readonly number[], random: () => number = constantRandom(0)): Policy<TestHost> {
  const p = weightedRoundRobin<TestHost>({ random });
  p.setHosts(lettered(weights));
  return p;
}

function maxRun(s: string): number {
  let best = 0;
  let run = 0;
  for (let i = 0; i < s.length; i++) {
    run = i > 0 && s[i] === s[i - 1] ? run + 1 : 1;
    if (run > best) best = run;
  }
  return best;
}

describe('weighted-round-robin', () => {
  it.each([
    [[5, 1, 1], 'abaacaa'],
    [[3, 1, 1], 'abaca'],
    [[1, 1, 1], 'bca'],
    [[2, 1], 'baa'],
    [[4, 3, 2, 1], 'bdacbaabca'],
    [[0, 1, 2], 'bcc'],
    [[0.5, 1], 'bba'],
  ])('weights %j with offset 0 repeat the cycle %s', (weights, cycle) => {
    expect(sequence(wrr(weights), cycle.length * 4)).toBe(cycle.repeat(4));
  });

  it('interleaves 5:1:1 like a smooth round robin, never more than three heavy picks in a row', () => {
    const s = sequence(wrr([5, 1, 1]), 700);
    expect(maxRun(s)).toBe(3);
    expect(s).not.toContain('aaaa');
  });

  it('starts each instance at a random offset so instances do not march in step', () => {
    const starts = new Set<string>();
    for (let seed = 1; seed <= 20; seed++) starts.add(sequence(wrr([1, 1, 1, 1], seededRandom(seed)), 4));
    expect(starts.size).toBeGreaterThan(2);
  });

  it('honours fractional weights (slow start) exactly over a cycle', () => {
    const counts = new Map<string, number>();
    for (const c of sequence(wrr([2.5, 1, 0.5]), 400)) counts.set(c, (counts.get(c) ?? 0) + 1);
    expect(counts).toEqual(
      new Map([
        ['a', 250],
        ['b', 100],
        ['c', 50],
      ]),
    );
  });

  it('continues the same sequence when setHosts brings no change (deadlines rebased to now)', () => {
    const hosts = lettered([4, 3, 2, 1]);
    const steady = weightedRoundRobin<TestHost>({ random: constantRandom(0.3) });
    const refreshed = weightedRoundRobin<TestHost>({ random: constantRandom(0.3) });
    steady.setHosts(hosts);
    refreshed.setHosts(hosts);
    let a = '';
    let b = '';
    for (let i = 0; i < 100; i++) {
      a += steady.pick({})?.name;
      b += refreshed.pick({})?.name;
      if (i % 3 === 0) refreshed.setHosts([...hosts].reverse());
    }
    expect(b).toBe(a);
  });

  it('gives a new host its share from now on, without a burst', () => {
    const p = weightedRoundRobin<TestHost>({ random: constantRandom(0) });
    const hosts = lettered([1, 1, 1, 1]);
    p.setHosts(hosts.slice(0, 3));
    sequence(p, 3000);
    p.setHosts(hosts);
    // In every window of 4 picks after the change, d is picked at most once.
    const s = sequence(p, 400);
    for (let i = 0; i + 4 <= s.length; i++)
      expect(s.slice(i, i + 4).split('d').length - 1).toBeLessThanOrEqual(1);
    expect(s.split('d').length - 1).toBe(100);
  });

  it('ramps a host whose weight grows step by step without a burst', () => {
    const p = weightedRoundRobin<TestHost>({ random: constantRandom(0) });
    const hosts = lettered([1, 1, 0.1]);
    p.setHosts(hosts);
    const c = hosts[2] as TestHost;
    for (let step = 1; step <= 10; step++) {
      c.effectiveWeight = step / 10;
      p.setHosts(hosts);
      const s = sequence(p, 210);
      const got = s.split('c').length - 1;
      // 210 picks at weights 1:1:w give c 210·w/(2+w) picks, ±1 for the phase.
      const expected = (210 * c.effectiveWeight) / (2 + c.effectiveWeight);
      expect(Math.abs(got - expected)).toBeLessThanOrEqual(1.5);
      expect(s).not.toContain('cc');
    }
  });

  it('skips an excluded host without losing its turn, and without a burst when it returns', () => {
    const p = weightedRoundRobin<TestHost>({ random: constantRandom(0) });
    const hosts = lettered([1, 1, 1]);
    p.setHosts(hosts);
    expect(sequence(p, 3)).toBe('bca');
    const exclude = new Set([hosts[1] as TestHost]);
    expect(p.pick({ exclude })?.name).toBe('c');
    expect(p.pick({})?.name).toBe('b');
    // b is excluded for a long time: once back, it takes its missed turn once and then one
    // turn per cycle; it does not catch up on the 20 turns it missed.
    let s = '';
    for (let i = 0; i < 60; i++) s += p.pick({ exclude })?.name;
    expect(s).not.toContain('b');
    s = sequence(p, 30);
    expect(s.split('b').length - 1).toBeGreaterThanOrEqual(10);
    expect(s.split('b').length - 1).toBeLessThanOrEqual(11);
    expect(maxRun(s)).toBe(1);
  });

  it('property: any window of k·W picks gives each host k·w ± 1, and runs are bounded', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 2, maxLength: 7 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 0, max: 500 }),
        fc.double({ min: 0, max: 0.999, noNaN: true }),
        (weights, k, start, seed) => {
          const total = weights.reduce((a, b) => a + b, 0);
          const p = wrr(weights, constantRandom(seed));
          sequence(p, start);
          const s = sequence(p, k * total);
          weights.forEach((w, i) => {
            const got = s.split(String.fromCharCode(97 + i)).length - 1;
            expect(Math.abs(got - k * w)).toBeLessThanOrEqual(1);
          });
          // Between two picks of the heaviest host's nearest rival, the heaviest gets at
          // most floor(w1 / w2) + 1 picks.
          const sorted = [...weights].sort((a, b) => b - a);
          const bound = Math.floor((sorted[0] as number) / (sorted[1] as number)) + 1;
          expect(maxRun(s)).toBeLessThanOrEqual(bound);
        },
      ),
      { numRuns: 500, seed: 2026 },
    );
  });
});
