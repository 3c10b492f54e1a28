// Runtime facts about one backend, kept apart from config (like Caddy's hosts.go) so they
// survive reloads: a HostRegistry hands the same HostState to every snapshot that keeps
// the backend (keyed by pool name and address).
import type { BalancerHost } from '../balancer/policy.ts';

export type HostStatus = 'unknown' | 'healthy' | 'unhealthy' | 'ejected' | 'slow-start' | 'draining';

/** How a forwarded request ended, as the passive detector counts it. */
export type OutcomeKind = 'success' | 'http-5xx' | 'gateway-error' | 'local-failure';

export interface HostSpec {
  pool: string;
  name: string;
  address: string;
  hostname: string;
  port: number;
  weight: number;
  maxRequests: number;
  drain: boolean;
}

const EWMA_ALPHA = 0.3;

export class HostState implements BalancerHost {
  index = 0;
  name: string;
  readonly pool: string;
  readonly address: string;
  readonly hostname: string;
  readonly port: number;
  configuredWeight: number;
  maxRequests: number;
  drain: boolean;

  effectiveWeight: number;
  inFlight = 0;
  latencyEwmaMs = 0;
  status: HostStatus = 'healthy';

  /** Lifetime counters (monotonic, never reset by reloads). */
  requests = 0;
  failures = 0;

  constructor(spec: HostSpec) {
    this.pool = spec.pool;
    this.name = spec.name;
    this.address = spec.address;
    this.hostname = spec.hostname;
    this.port = spec.port;
    this.configuredWeight = spec.weight;
    this.maxRequests = spec.maxRequests;
    this.drain = spec.drain;
    this.effectiveWeight = spec.drain ? 0 : spec.weight;
  }

  /** Can take a new request now (ignoring the pool's panic mode). */
  get available(): boolean {
    return this.effectiveWeight > 0 && this.status !== 'unhealthy' && this.status !== 'ejected';
  }

  requestStarted(): void {
    this.inFlight++;
    this.requests++;
  }

  requestFinished(kind: OutcomeKind, durationMs: number): void {
    this.inFlight--;
    if (kind !== 'success') this.failures++;
    this.latencyEwmaMs =
      this.latencyEwmaMs === 0 ? durationMs : this.latencyEwmaMs + EWMA_ALPHA * (durationMs - this.latencyEwmaMs);
  }
}

/** Keeps HostState objects across config versions, keyed by pool and address. */
export class HostRegistry {
  readonly #hosts = new Map<string, HostState>();

  static key(pool: string, address: string): string {
    return `${pool}\u0000${address}`;
  }

  /** The existing state for (pool, address), updated from spec, or a new one. */
  acquire(spec: HostSpec): HostState {
    const key = HostRegistry.key(spec.pool, spec.address);
    let h = this.#hosts.get(key);
    if (h === undefined) {
      h = new HostState(spec);
      this.#hosts.set(key, h);
    } else {
      h.name = spec.name;
      h.configuredWeight = spec.weight;
      h.maxRequests = spec.maxRequests;
      h.drain = spec.drain;
    }
    return h;
  }

  /** Forget hosts no longer in the running config (after their in-flight requests ended). */
  retain(keys: ReadonlySet<string>): void {
    for (const k of this.#hosts.keys()) if (!keys.has(k)) this.#hosts.delete(k);
  }

  get(pool: string, address: string): HostState | undefined {
    return this.#hosts.get(HostRegistry.key(pool, address));
  }
}
