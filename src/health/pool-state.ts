// The live state of one pool: its hosts, its policy and whether it is in panic. It decides
// which hosts the policy may choose from; it is rebuilt per snapshot but its hosts are the
// registry's long-lived HostState objects.
import type { PickRequest, PickTrace, Policy } from '../balancer/policy.ts';
import type { HostState } from './host-state.ts';

export interface PoolOptions {
  /** Below this fraction of available hosts, balance across all hosts (Envoy's panic mode). */
  panicThreshold: number;
}

export class PoolState {
  readonly name: string;
  readonly hosts: readonly HostState[];
  readonly policy: Policy<HostState>;
  readonly options: PoolOptions;
  panic = false;
  /** Hosts the policy currently chooses from. */
  candidates: readonly HostState[] = [];

  readonly #exclude = new Set<HostState>();
  readonly #req: PickRequest = { hashKey: undefined, exclude: undefined };

  constructor(name: string, hosts: readonly HostState[], policy: Policy<HostState>, options: PoolOptions) {
    this.name = name;
    this.hosts = hosts;
    this.policy = policy;
    this.options = options;
    hosts.forEach((h, i) => (h.index = i));
    this.refresh();
  }

  /** Recompute candidates and panic after any host state or weight change. */
  refresh(): void {
    const available = this.hosts.filter((h) => h.available);
    const weighted = this.hosts.filter((h) => h.configuredWeight > 0 && !h.drain);
    const fraction = weighted.length === 0 ? 0 : available.length / weighted.length;
    this.panic = weighted.length > 0 && fraction < this.options.panicThreshold;
    this.candidates = this.panic ? weighted : available;
    this.policy.setHosts(this.candidates);
  }

  /**
   * Choose a host for a request, skipping hosts at their `maxRequests` cap and any in
   * `tried` (retries go to a different backend). Undefined when none can take it.
   */
  pick(hashKey: string | undefined, tried?: ReadonlySet<HostState>, trace?: PickTrace): HostState | undefined {
    const exclude = this.#exclude;
    exclude.clear();
    if (tried) for (const h of tried) exclude.add(h);
    const req = this.#req;
    req.hashKey = hashKey;
    req.exclude = exclude.size > 0 ? exclude : undefined;
    for (let i = 0; i <= this.candidates.length; i++) {
      const h = this.policy.pick(req, trace);
      if (h === undefined) return undefined;
      if (h.inFlight < h.maxRequests) return h;
      exclude.add(h);
      req.exclude = exclude;
    }
    return undefined;
  }
}
