import { describe, expect, it } from 'vitest';
import { HostRegistry, type HostState } from '../data-plane/host-state.ts';
import type { PoolState } from '../data-plane/pool-state.ts';
import { snapshotWith } from '../testing/health-kit.ts';
import { configuredShares, runningShares, sharesOf } from './expected-shares.ts';
import { policyDescriptor } from './registry.ts';

/** A running pool of backends weighted `weights`, every host healthy. */
function running(policy: string, weights: number[], extra: Record<string, unknown> = {}): PoolState {
  const backends = weights.map((weight, i) => ({ name: `b${i}`, address: `127.0.0.1:${9100 + i}`, weight }));
  const snap = snapshotWith(new HostRegistry(), { p: { policy, backends, ...extra } });
  const state = snap.pools.get('p')?.state as PoolState;
  for (const h of state.hosts) h.status = 'healthy';
  state.refresh();
  return state;
}

const rounded = (xs: number[]) => xs.map((x) => Math.round(x * 1000) / 1000);
const wrr = policyDescriptor('weighted-round-robin');
const rr = policyDescriptor('round-robin');

describe('expected shares', () => {
  it('follow the configured weights when every backend is healthy, config and runtime alike', () => {
    const state = running('weighted-round-robin', [2, 1, 1]);
    expect(runningShares(state.hosts, wrr)).toEqual([0.5, 0.25, 0.25]);
    expect(
      configuredShares(
        [2, 1, 1].map((weight) => ({ weight, drain: false })),
        wrr,
      ),
    ).toEqual([0.5, 0.25, 0.25]);
  });

  it('give every candidate an equal turn under a weight-blind policy', () => {
    const state = running('round-robin', [10, 1, 1, 2]);
    expect(runningShares(state.hosts, rr)).toEqual([0.25, 0.25, 0.25, 0.25]);
    expect(
      configuredShares(
        [10, 1, 1, 2].map((weight) => ({ weight, drain: false })),
        rr,
      ),
    ).toEqual([0.25, 0.25, 0.25, 0.25]);
  });

  it('give a drained backend nothing, and weight 0 drains under every policy', () => {
    const state = running('round-robin', [1, 1, 0]);
    expect(runningShares(state.hosts, rr)).toEqual([0.5, 0.5, 0]);
    const drained = [
      { weight: 3, drain: true },
      { weight: 1, drain: false },
      { weight: 0, drain: false },
    ];
    expect(configuredShares(drained, wrr)).toEqual([0, 1, 0]);
    expect(configuredShares(drained, rr)).toEqual([0, 1, 0]);
  });

  it('follow the slow-start ramp of a weighted policy, not the configured weight', () => {
    const state = running('weighted-round-robin', [1, 1]);
    (state.hosts[1] as HostState).status = 'slow-start';
    (state.hosts[1] as HostState).rampFactor = 0.25;
    state.refresh();
    expect(rounded(runningShares(state.hosts, wrr))).toEqual([0.8, 0.2]);
    // Weight-blind policies ignore the ramp too: an equal turn for every candidate.
    expect(runningShares(state.hosts, rr)).toEqual([0.5, 0.5]);
  });

  it('in panic follow the weights the balancer gives: every non-draining checked host its target weight', () => {
    const state = running('weighted-round-robin', [3, 1, 1, 1], { panicThreshold: '90%' });
    for (const h of state.hosts.slice(1)) h.status = 'unhealthy';
    const ramping = state.hosts[0] as HostState;
    ramping.status = 'slow-start';
    ramping.rampFactor = 0.5;
    state.refresh();
    expect(state.panic).toBe(true);
    // Unhealthy hosts take traffic in panic; the ramping host gets 3 × 0.5, not its configured 3.
    expect(rounded(runningShares(state.hosts, wrr))).toEqual([0.333, 0.222, 0.222, 0.222]);
    expect(state.hosts.map((h) => h.effectiveWeight)).toEqual([1.5, 1, 1, 1]);
  });

  it('out of panic give an unhealthy backend nothing', () => {
    const state = running('weighted-round-robin', [1, 1, 1, 1]);
    (state.hosts[3] as HostState).status = 'unhealthy';
    state.refresh();
    expect(state.panic).toBe(false);
    expect(rounded(runningShares(state.hosts, wrr))).toEqual([0.333, 0.333, 0.333, 0]);
  });

  it('scale an intended weight by the runtime ramp (the audit against its desired source)', () => {
    const state = running('weighted-round-robin', [1, 1]);
    (state.hosts[0] as HostState).rampFactor = 0.5;
    state.refresh();
    const intended = new Map([
      ['b0', 4],
      ['b1', 2],
    ]);
    expect(runningShares(state.hosts, wrr, (h) => intended.get(h.name))).toEqual([0.5, 0.5]);
    expect(runningShares(state.hosts, wrr, (h) => (h.name === 'b0' ? undefined : 2))).toEqual([0, 1]);
  });

  it('are all 0 when no backend can take traffic', () => {
    expect(sharesOf([0, 0])).toEqual([0, 0]);
    expect(configuredShares([{ weight: 1, drain: true }], wrr)).toEqual([0]);
  });
});
