// The rules' host facts: the last list while no host's facts changed, a new one when one did.
import { describe, expect, it } from 'vitest';
import { hostFacts } from './host-facts.ts';
import { newPoolTrack, syncPoolTrack } from './pool-track.ts';
import { testSnapshot, threeBackendConfig } from '../testing/monitor-kit.ts';

describe('hostFacts', () => {
  it('keeps the last list while nothing changed, and builds a new one from the first change', () => {
    const snap = testSnapshot(threeBackendConfig(), 1);
    const pr = snap.pools.get('app')!;
    const p = newPoolTrack('app', snap, 10_000);
    syncPoolTrack(p, pr, snap, undefined, 0, 10_000);
    const first = hostFacts(p, pr, 1000);
    expect(first.map((f) => f.status)).toEqual(['healthy', 'healthy', 'healthy']);
    expect(hostFacts(p, pr, 2000)).toBe(first);

    const h = pr.state.hosts[1]!;
    h.status = 'unhealthy';
    const down = hostFacts(p, pr, 3000);
    expect(down).not.toBe(first);
    expect(down[0]).toBe(first[0]);
    expect(down[1]).toMatchObject({ name: 'app-2', status: 'unhealthy', available: false, drain: false });
    expect(hostFacts(p, pr, 4000)).toBe(down);

    // Drained at runtime (`fulcrum drain`) reads as drained, like drain: true in the config.
    pr.state.hosts[2]!.runtimeDrain = { by: 'test', reason: 'test', at: 0, until: undefined };
    expect(hostFacts(p, pr, 5000)[2]).toMatchObject({ name: 'app-3', drain: true });
  });
});
