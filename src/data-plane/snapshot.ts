// A snapshot is the immutable runtime built from one config version: routers per listener
// and pool states whose hosts come from the long-lived HostRegistry.
import type { Config, ListenerConfig, PoolConfig } from '../config/schema.ts';
import type { Policy } from '../balancer/policy.ts';
import { createPolicy, policyDescriptor } from '../balancer/registry.ts';
import { parseAddress } from '../core/units.ts';
import type { DataPlaneHost, HostSpec, HostState } from './host-state.ts';
import { poolHealthOptions, type PoolHealthOptions } from './pool-health-options.ts';
import { PoolState } from './pool-state.ts';
import { compileRoutes, type Router } from './router.ts';

export interface ListenerRuntime {
  readonly name: string;
  readonly config: ListenerConfig;
  readonly router: Router;
}

export interface PoolRuntime<H extends DataPlaneHost = HostState> {
  readonly name: string;
  readonly config: PoolConfig;
  readonly state: PoolState<H>;
  /** What the health manager reads of the pool (plain options, no config types). */
  readonly health: PoolHealthOptions;
  /** The `hash.key` spec when the policy is hash-keyed, else undefined (read per request). */
  readonly hashKey: string | undefined;
}

export interface Snapshot<H extends DataPlaneHost = HostState> {
  readonly version: number;
  readonly config: Config;
  readonly listeners: ReadonlyMap<string, ListenerRuntime>;
  readonly pools: ReadonlyMap<string, PoolRuntime<H>>;
}

/** What the proxy runs on: a snapshot over any data-plane host (HostState or a worker's SharedHost). */
export type DataPlaneSnapshot = Snapshot<DataPlaneHost>;
export type DataPlanePool = PoolRuntime<DataPlaneHost>;

/** Where a snapshot's hosts come from: the HostRegistry, or a worker's table of shared hosts. */
export interface HostSource<H extends DataPlaneHost> {
  /** The existing host for (pool, name, address), updated from spec, or a new one. */
  acquire(spec: HostSpec): H;
  get(pool: string, name: string, address: string): H | undefined;
}

export interface BuildOptions<H extends DataPlaneHost = HostState> {
  random?: () => number;
  /**
   * The policy of a pool instead of its own (workers: one global ticket sequence for the
   * deterministic policies); undefined = the pool's policy as configured.
   */
  policy?: (pool: string, config: PoolConfig) => Policy<H> | undefined;
  /**
   * Leave the hosts a running snapshot already uses as they are: their new backend config
   * (weight, drain, maxRequests, name) is adopted when the health manager commits the apply,
   * so building a snapshot that is then refused changes nothing that runs.
   */
  staged?: boolean;
}

export function buildSnapshot<H extends DataPlaneHost = HostState>(
  config: Config,
  version: number,
  registry: HostSource<H>,
  options: BuildOptions<H> = {},
): Snapshot<H> {
  const random = options.random ?? Math.random;
  const pools = new Map<string, PoolRuntime<H>>();
  for (const [name, pc] of Object.entries(config.pools)) {
    const hosts: H[] = pc.backends.map((b) => {
      const hp = parseAddress(b.address);
      if (hp === undefined) throw new Error(`pools.${name}: bad backend address ${b.address}`);
      const running = options.staged === true ? registry.get(name, b.name, b.address) : undefined;
      return (
        running ??
        registry.acquire({
          pool: name,
          name: b.name,
          address: b.address,
          hostname: hp.host,
          port: hp.port,
          weight: b.weight,
          maxRequests: b.maxRequests,
          drain: b.drain,
        })
      );
    });
    const policy =
      options.policy?.(name, pc) ??
      createPolicy<H>(pc.policy, {
        random,
        ...(pc.hash ? { balanceFactor: pc.hash.balanceFactor } : {}),
      });
    pools.set(name, {
      name,
      config: pc,
      health: poolHealthOptions(pc),
      hashKey: policyDescriptor(pc.policy).hashKeyed ? pc.hash.key : undefined,
      state: new PoolState(name, hosts, policy, { panicThreshold: pc.panicThreshold }),
    });
  }
  const listeners = new Map<string, ListenerRuntime>();
  for (const [name, lc] of Object.entries(config.listeners)) {
    listeners.set(name, { name, config: lc, router: compileRoutes(lc.routes) });
  }
  return { version, config, listeners, pools };
}
