// The live state of one pool: its hosts, its policy and whether it is in panic. It decides
// which hosts the policy may choose from; it is rebuilt per snapshot but its hosts are the
// registry's long-lived HostState objects.
import type { PickRequest, PickTrace, Policy } from '../balancer/policy.ts';
import type { DataPlaneHost, HostState } from './host-state.ts';

export interface PoolOptions {
  /** Below this fraction of available hosts, balance across all hosts (Envoy's panic mode). */
  panicThreshold: number;
}

export class PoolState<H extends DataPlaneHost = HostState> {
  readonly name: string;
  readonly hosts: readonly H[];
  readonly policy: Policy<H>;
  readonly options: PoolOptions;
  panic = false;
  /** Hosts the policy currently chooses from. */
  candidates: readonly H[] = [];
  /** Hosts that count for panic: not draining and past their first check. */
  eligible = 0;
  /** Eligible hosts that are available (healthy or in slow start). */
  availableCount = 0;
  /**
   * The weight this pool gave each host (in host order) while it ran: the target weight of a
   * candidate, else 0, as of its last refresh before retire(). The hosts are shared with later
   * snapshots, whose commit rewrites their weights and refreshes this state too (it still
   * finishes its requests), so what this snapshot balanced by is kept here: the monitor's
   * expected counts read it when the snapshot is swapped out.
   */
  readonly givenWeights: number[];
  #retired = false;

  /**
   * Told after every refresh (the worker data plane publishes the new weights and health to
   * its threads from here); unset on one thread.
   */
  onRefresh: (() => void) | undefined = undefined;

  readonly #exclude = new Set<H>();
  readonly #req: PickRequest = { hashKey: undefined, exclude: undefined };

  constructor(name: string, hosts: readonly H[], policy: Policy<H>, options: PoolOptions) {
    this.name = name;
    this.hosts = hosts;
    this.policy = policy;
    this.options = options;
    this.givenWeights = new Array<number>(hosts.length).fill(0);
    hosts.forEach((h, i) => (h.index = i));
    this.refresh();
  }

  /**
   * Recompute candidates, effective weights and panic after any host state or weight change
   * (called off the request path). Draining hosts never take new requests, and hosts still
   * `unknown` (never checked) never take traffic, not even in panic, and do not count for it.
   */
  refresh(): void {
    let eligible = 0;
    let available = 0;
    for (const h of this.hosts) {
      if (h.draining || h.status === 'unknown') continue;
      eligible++;
      if (h.available) available++;
    }
    this.eligible = eligible;
    this.availableCount = available;
    this.panic = eligible > 0 && available / eligible < this.options.panicThreshold;
    const candidates: H[] = [];
    const given = this.givenWeights;
    for (let i = 0; i < this.hosts.length; i++) {
      const h = this.hosts[i] as H;
      const take = this.panic ? !h.draining && h.status !== 'unknown' : h.available;
      // In panic an unhealthy host really gets traffic, so its effective weight says so.
      h.effectiveWeight = take ? h.targetWeight : 0;
      if (!this.#retired) given[i] = h.effectiveWeight;
      if (take) candidates.push(h);
    }
    this.candidates = candidates;
    this.policy.setHosts(candidates);
    this.onRefresh?.();
  }

  /**
   * A newer snapshot took over: `givenWeights` keeps what this one balanced by, whatever later
   * refreshes (with the newer config's weights on the shared hosts) find.
   */
  retire(): void {
    this.#retired = true;
  }

  /**
   * Choose a host for a request, skipping hosts at their `maxRequests` cap and any in
   * `tried` (retries go to a different backend). Undefined when none can take it. The caller
   * calls requestStarted() on the host it gets in the same turn (admit() may have reserved it).
   */
  pick(hashKey: string | undefined, tried?: ReadonlySet<H>, trace?: PickTrace): H | undefined {
    // The exclusion set is only touched when something is excluded. V8's Set#clear allocates a
    // new table and links the old one to it; a long-lived set cleared on every pick turned each
    // request into ~300 bytes promoted to the old generation, whose mark-compacts then set the
    // proxy's p99 (bench/RESULTS.md).
    let exclude: Set<H> | undefined;
    if (tried !== undefined && tried.size > 0) {
      exclude = this.#freshExclude();
      for (const h of tried) exclude.add(h);
    }
    const req = this.#req;
    req.hashKey = hashKey;
    req.exclude = exclude;
    for (let i = 0; i <= this.candidates.length; i++) {
      const h = this.policy.pick(req, trace);
      if (h === undefined) return undefined;
      if (h.admit()) return h;
      exclude ??= this.#freshExclude();
      exclude.add(h);
      req.exclude = exclude;
    }
    return undefined;
  }

  #freshExclude(): Set<H> {
    const exclude = this.#exclude;
    if (exclude.size > 0) exclude.clear();
    return exclude;
  }
}
