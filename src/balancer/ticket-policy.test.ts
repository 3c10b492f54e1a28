import { describe, expect, it } from 'vitest';
import { testHosts, type TestHost } from '../../test/contract/policy-contract.ts';
import { MAX_SCHEDULE, smoothSchedule, ticketPolicy } from './ticket-policy.ts';

function counts(schedule: Int32Array, n: number): number[] {
  const c = new Array<number>(n).fill(0);
  for (const i of schedule) c[i] = (c[i] as number) + 1;
  return c;
}

describe('smoothSchedule', () => {
  it('gives 3:1:1 a cycle of five with the heavy host spread out', () => {
    expect([...smoothSchedule([3, 1, 1])]).toEqual([1, 0, 0, 2, 0]);
  });

  it('reduces integer weights by their gcd and keeps them exact', () => {
    expect([...smoothSchedule([30, 10, 10])]).toEqual([...smoothSchedule([3, 1, 1])]);
    expect(counts(smoothSchedule([1000, 1]), 2)).toEqual([1000, 1]);
    expect(counts(smoothSchedule([5, 0, 2]), 3)).toEqual([5, 0, 2]);
  });

  it('runs 5:1:1 at most three in a row, across the cycle boundary too', () => {
    const once = [...smoothSchedule([5, 1, 1])].join('');
    expect(once).toBe('0100020');
    expect(once + once).not.toMatch(/0{4}/);
  });

  it('scales fractional weights (slow start) and keeps every positive host in the cycle', () => {
    const s = smoothSchedule([1, 0.05, 1]);
    const c = counts(s, 3);
    expect(s.length).toBeLessThanOrEqual(MAX_SCHEDULE);
    expect(c[1]).toBeGreaterThan(0);
    expect((c[1] as number) / s.length).toBeCloseTo(0.05 / 2.05, 3);
  });

  it('is empty without a positive weight', () => {
    expect(smoothSchedule([0, 0]).length).toBe(0);
    expect(smoothSchedule([]).length).toBe(0);
  });
});

describe('ticketPolicy', () => {
  function shared(): { value: number; ticket: () => number } {
    const s = { value: 0, ticket: () => s.value++ };
    return s;
  }

  it('round-robin: two policies over one counter make one sequence', () => {
    const counter = shared();
    const hosts = testHosts([1, 5, 1]);
    const a = ticketPolicy<TestHost>('round-robin', false, counter.ticket);
    const b = ticketPolicy<TestHost>('round-robin', false, counter.ticket);
    a.setHosts(hosts);
    b.setHosts(hosts);
    const seq = [a, b, b, a, a, b, a].map((p) => p.pick({})?.name);
    expect(seq).toEqual(['h0', 'h1', 'h2', 'h0', 'h1', 'h2', 'h0']);
  });

  it('weighted: 3,000 picks spread over three policies give exactly 1800/600/600', () => {
    const counter = shared();
    const hosts = testHosts([3, 1, 1]);
    const policies = [0, 1, 2].map(() =>
      ticketPolicy<TestHost>('weighted-round-robin', true, counter.ticket),
    );
    for (const p of policies) p.setHosts(hosts);
    const c: Record<string, number> = {};
    for (let i = 0; i < 3000; i++) {
      const name = (policies[(i * 7) % 3] as (typeof policies)[number]).pick({})?.name as string;
      c[name] = (c[name] ?? 0) + 1;
    }
    expect(c).toEqual({ h0: 1800, h1: 600, h2: 600 });
  });

  it('skips an excluded host by drawing the next ticket', () => {
    const counter = shared();
    const hosts = testHosts([1, 1, 1]);
    const p = ticketPolicy<TestHost>('round-robin', false, counter.ticket);
    p.setHosts(hosts);
    const exclude = new Set([hosts[1] as TestHost]);
    expect([0, 1, 2, 3].map(() => p.pick({ exclude })?.name)).toEqual(['h0', 'h2', 'h0', 'h2']);
    expect(counter.value).toBe(6);
  });

  it('returns undefined when every host is excluded, after a bounded number of draws', () => {
    const counter = shared();
    const hosts = testHosts([1, 1]);
    const p = ticketPolicy<TestHost>('weighted-round-robin', true, counter.ticket);
    p.setHosts(hosts);
    expect(p.pick({ exclude: new Set(hosts) })).toBeUndefined();
    expect(counter.value).toBeLessThanOrEqual(6);
  });

  it('goes on past 2^31 tickets (the shared counter is a wrapping int32)', () => {
    let t = 2 ** 31 - 1;
    const p = ticketPolicy<TestHost>('round-robin', false, () => t++ | 0);
    p.setHosts(testHosts([1, 1]));
    // 2^31 - 1 is odd, 2^31 is even: the turn goes on instead of jumping back.
    expect([p.pick({})?.name, p.pick({})?.name]).toEqual(['h1', 'h0']);
  });

  it('explains its pick when asked', () => {
    const p = ticketPolicy<TestHost>('round-robin', false, () => 4);
    p.setHosts(testHosts([1, 1, 1]));
    const trace = { reason: '', candidates: [] as { name: string; score: number }[] };
    expect(p.pick({}, trace)?.name).toBe('h1');
    expect(trace.reason).toBe('ticket 4: position 1 of a shared cycle of 3');
  });
});
