import { describe, expect, it } from 'vitest';
import { createPolicy } from '../balancer/registry.ts';
import { HostRegistry, type HostState } from '../data-plane/host-state.ts';
import { withCanaryWeights } from './canary-weights.ts';

function hosts(weights: number[]): HostState[] {
  const registry = new HostRegistry();
  return weights.map((weight, i) => {
    const h = registry.acquire({
      pool: 'app',
      name: `app-${i + 1}`,
      address: `127.0.0.1:${9001 + i}`,
      hostname: '127.0.0.1',
      port: 9001 + i,
      weight,
      maxRequests: Infinity,
      drain: false,
    });
    h.index = i;
    h.effectiveWeight = h.targetWeight;
    return h;
  });
}

const canaryPool = (hs: HostState[], weights: number[], drain: boolean[] = []) => ({
  backends: hs.map((h, i) => ({
    name: h.name,
    address: h.address,
    weight: weights[i] ?? 1,
    drain: drain[i] ?? false,
  })),
});

function counts(pick: () => HostState | undefined, n: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const h = pick();
    if (h !== undefined) out[h.name] = (out[h.name] ?? 0) + 1;
  }
  return out;
}

describe('withCanaryWeights', () => {
  it("balances the canary by its config's weights over hosts that keep the running weights", () => {
    const hs = hosts([1, 1, 1]);
    const running = createPolicy<HostState>('weighted-round-robin', { random: () => 0 });
    running.setHosts(hs);
    const canary = withCanaryWeights<HostState>(
      createPolicy('weighted-round-robin', { random: () => 0 }),
      canaryPool(hs, [10, 1, 1]),
    );
    canary.setHosts(hs);
    expect(counts(() => canary.pick({}), 1200)).toEqual({ 'app-1': 1000, 'app-2': 100, 'app-3': 100 });
    // The shared hosts and the running policy are untouched.
    expect(hs.map((h) => h.configuredWeight)).toEqual([1, 1, 1]);
    expect(counts(() => running.pick({}), 300)).toEqual({ 'app-1': 100, 'app-2': 100, 'app-3': 100 });
  });

  it("keeps the host's health factor, honours the canary's drain, and maps exclusions to the shared hosts", () => {
    const hs = hosts([2, 1, 1]);
    // app-1 at half its running weight (slow start, say): half the canary weight too.
    hs[0]!.effectiveWeight = 1;
    const canary = withCanaryWeights<HostState>(
      createPolicy('weighted-round-robin', { random: () => 0 }),
      canaryPool(hs, [8, 2, 2], [false, false, true]),
    );
    canary.setHosts(hs);
    expect(counts(() => canary.pick({}), 600)).toEqual({ 'app-1': 400, 'app-2': 200 });
    const exclude = new Set([hs[0]!]);
    expect(counts(() => canary.pick({ exclude }), 10)).toEqual({ 'app-2': 10 });
  });

  it("gives bounded-load consistent-hash the pool's kept in-flight sum, not a walk over every host", () => {
    const hs = hosts(new Array<number>(50).fill(1));
    const canary = withCanaryWeights<HostState>(
      createPolicy('consistent-hash', { random: () => 0, balanceFactor: 1.25 }),
      canaryPool(hs, new Array<number>(50).fill(1)),
    );
    canary.setHosts(hs);
    const home = canary.pick({ hashKey: 'k' });
    if (home === undefined) throw new Error('no pick');
    // The home has 2 in flight and the pool 202: the bound is ceil(1.25 × 203 / 50) = 6, so the
    // home is not full. The policy learns the 202 from the kept sum: it reads no other host
    // (the others report 0 here, so a walk over them would call the home full).
    home.requestStarted();
    home.requestStarted();
    const others = hs.filter((h) => h !== home);
    for (let i = 0; i < 200; i++) (others[i % others.length] as HostState).requestStarted();
    let reads = 0;
    for (const h of others)
      Object.defineProperty(h, 'inFlight', {
        get: () => {
          reads++;
          return 0;
        },
      });
    expect(canary.pick({ hashKey: 'k' })).toBe(home);
    expect([home.poolInFlight, reads]).toEqual([202, 0]);
  });
});
