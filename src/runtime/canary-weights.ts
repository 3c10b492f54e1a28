// The canary slice balances by the CANARY's backend weights. Its snapshot shares each backend's
// HostState with the running snapshot (one identity: health, in-flight and counters are the
// backend's, whichever slice sent the request), and a running host keeps the running config's
// weight and drain until the canary is promoted (so a refused or rolled-back canary changes
// nothing that runs). A weights-only canary — the postmortem's 10:1:1 — would then run the
// running weights, and the guard would judge a config that never ran. So the canary's pools
// get their policy through this wrapper: it hands the policy a view of each host whose weight
// is the canary's (times the host's health, slow-start and drain factor now), and maps picks
// back to the shared hosts.
import type { BalancerHost, PickRequest, PickTrace, Policy } from '../balancer/policy.ts';
import type { PoolConfig } from '../config/schema.ts';

interface WeightedHost extends BalancerHost {
  readonly address: string;
  /** The running config's weight (adopted from the canary's only when it is promoted). */
  readonly configuredWeight: number;
}

/** A host as the canary's policy sees it: the shared host, with the canary's weight. */
class CanaryHostView<H extends WeightedHost> implements BalancerHost {
  readonly host: H;
  effectiveWeight = 0;
  constructor(host: H) {
    this.host = host;
  }
  get index(): number {
    return this.host.index;
  }
  get name(): string {
    return this.host.name;
  }
  get inFlight(): number {
    return this.host.inFlight;
  }
  get latencyEwmaMs(): number {
    return this.host.latencyEwmaMs;
  }
  /** The whole pool's in-flight, both slices: bounded-load consistent-hash reads it in O(1). */
  get poolInFlight(): number | undefined {
    return this.host.poolInFlight;
  }
}

const key = (name: string, address: string): string => `${name}\u0000${address}`;

/**
 * `inner` (the pool's policy) over the canary config's weights: a host of weight w in the canary
 * takes w × (its effective weight ÷ its configured weight) — its health, slow start and drain
 * as they are now, at the canary's weight. `drain: true` in the canary takes it out of the slice.
 */
export function withCanaryWeights<H extends WeightedHost>(
  inner: Policy<CanaryHostView<H>>,
  pool: {
    readonly backends: readonly Pick<
      PoolConfig['backends'][number],
      'name' | 'address' | 'weight' | 'drain'
    >[];
  },
): Policy<H> {
  const weights = new Map<string, number>();
  for (const b of pool.backends) weights.set(key(b.name, b.address), b.drain ? 0 : b.weight);
  const views = new Map<H, CanaryHostView<H>>();
  const exclude = new Set<CanaryHostView<H>>();
  const req: PickRequest = { hashKey: undefined, exclude: undefined };
  return {
    name: inner.name,
    setHosts(hosts) {
      const list: CanaryHostView<H>[] = [];
      for (const h of hosts) {
        let v = views.get(h);
        if (v === undefined) views.set(h, (v = new CanaryHostView(h)));
        const w = weights.get(key(h.name, h.address)) ?? h.configuredWeight;
        v.effectiveWeight = h.configuredWeight > 0 ? (h.effectiveWeight * w) / h.configuredWeight : 0;
        if (v.effectiveWeight > 0) list.push(v);
      }
      inner.setHosts(list);
    },
    pick(r: PickRequest, trace?: PickTrace): H | undefined {
      req.hashKey = r.hashKey;
      req.exclude = undefined;
      if (r.exclude !== undefined && r.exclude.size > 0) {
        exclude.clear();
        for (const h of r.exclude) {
          const v = views.get(h as H);
          if (v !== undefined) exclude.add(v);
        }
        req.exclude = exclude;
      }
      return inner.pick(req, trace)?.host;
    },
  };
}

export type { CanaryHostView };
