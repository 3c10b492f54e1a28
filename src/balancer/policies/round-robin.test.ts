import { describe, expect, it } from 'vitest';
import { testHosts, type TestHost } from '../../../test/contract/policy-contract.ts';
import { constantRandom, seededRandom } from '../seeded-random.ts';
import { roundRobin } from './round-robin.ts';

function names(random: () => number, count: number, weights = [1, 5, 0, 1]): string {
  const p = roundRobin<TestHost>({ random });
  p.setHosts(testHosts(weights));
  let s = '';
  for (let i = 0; i < count; i++) s += p.pick({})?.name.slice(1);
  return s;
}

describe('round-robin', () => {
  it('takes each host in turn, whatever its weight', () => {
    expect(names(constantRandom(0), 8)).toBe('01230123');
  });

  it('starts at a random position so instances do not march in step', () => {
    const firsts = new Set<string>();
    for (let seed = 1; seed <= 20; seed++) firsts.add(names(seededRandom(seed), 1));
    expect(firsts.size).toBeGreaterThan(2);
  });

  it('skips an excluded host and goes on from the one it picked', () => {
    const p = roundRobin<TestHost>({ random: constantRandom(0) });
    const hosts = testHosts([1, 1, 1]);
    p.setHosts(hosts);
    const exclude = new Set([hosts[0] as TestHost]);
    expect([p.pick({ exclude }), p.pick({ exclude }), p.pick({ exclude })].map((h) => h?.name)).toEqual([
      'h1',
      'h2',
      'h1',
    ]);
    expect(p.pick({})?.name).toBe('h2');
    expect(p.pick({})?.name).toBe('h0');
  });
});
