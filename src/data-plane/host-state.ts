// Runtime facts about one backend, kept apart from config (like Caddy's hosts.go) so they
// survive reloads: a HostRegistry hands the same HostState to every snapshot that keeps
// the backend (keyed by pool, name and address: one identity with the views and the monitor).
//
// HostState holds facts (check verdict, ejection deadline, flap hold, lame duck, ramp); the
// HealthManager is the one writer of `status`, derived from those facts by deriveStatus().
import type { BalancerHost } from '../balancer/policy.ts';

export type HostStatus = 'unknown' | 'healthy' | 'unhealthy' | 'ejected' | 'slow-start' | 'draining';

/**
 * How a forwarded request ended, as the passive detector counts it. `connect-failure`: no
 * connection could be made (refused, unreachable), so nothing was sent; `local-failure`: reset,
 * timeout or a cut body after the request went out.
 */
export type OutcomeKind = 'success' | 'http-5xx' | 'gateway-error' | 'local-failure' | 'connect-failure';

/** Verdict of active health checks: `unknown` until the first check of a new backend. */
export type CheckVerdict = 'unknown' | 'up' | 'down';

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

/** An operator's runtime drain (`fulcrum drain`): an override of the config, with who, when and why. */
export interface RuntimeDrain {
  readonly by: string;
  readonly reason: string;
  /** Wall-clock ms. */
  readonly at: number;
  /** Wall-clock ms when it ends by itself; undefined = until undrained. */
  readonly until: number | undefined;
}

/** Told synchronously about request outcomes and lame-duck signals (the health manager). */
export interface HostObserver {
  outcome(host: HostState, kind: OutcomeKind): void;
  lameDuck(host: HostState): void;
}

/**
 * What the data plane (pool state, exchange, tunnel, upstream) reads of a backend and does to
 * it. On one thread that is the registry's HostState itself; in a worker it is a SharedHost
 * whose counters live in shared memory (src/workers/shared-host.ts), so the pool state and the
 * proxy run the same code either way.
 */
export interface DataPlaneHost extends BalancerHost {
  /** Written by PoolState: the host's position in its pool. */
  index: number;
  readonly pool: string;
  readonly address: string;
  readonly hostname: string;
  readonly port: number;
  readonly maxRequests: number;
  readonly status: HostStatus;
  readonly draining: boolean;
  readonly available: boolean;
  /** Weight when in rotation: configured × slow-start ramp × drain. */
  readonly targetWeight: number;
  /** Written by PoolState.refresh(): the weight the policy honours now. */
  effectiveWeight: number;
  /** Client bytes of the requests this backend answered. */
  bytesIn: number;
  bytesOut: number;
  /**
   * May this host take one more request (below `maxRequests`)? A pick asks this and then calls
   * requestStarted() in the same turn; a SharedHost reserves the slot atomically here, so two
   * threads can never both take the last one.
   */
  admit(): boolean;
  requestStarted(): void;
  requestFinished(kind: OutcomeKind, durationMs: number): void;
  markLameDuck(): void;
}

export interface LastCheck {
  /** Wall-clock milliseconds. */
  at: number;
  ok: boolean;
  detail: string;
}

const EWMA_ALPHA = 0.3;
/**
 * A failed request feeds the latency EWMA a penalty instead of its own (often tiny) duration:
 * a backend that fails fast — 503 in a millisecond — must not look like the fastest one to
 * p2c-ewma. The penalty scales with the backend's usual latency, has a floor for very fast
 * backends, and a cap so a long failure streak cannot overflow into a host never picked again.
 */
const FAILURE_PENALTY_FACTOR = 4;
const FAILURE_PENALTY_FLOOR_MS = 100;
const FAILURE_PENALTY_CAP_MS = 60_000;

/**
 * The latency EWMA after one more try. A failure feeds a penalty instead of its own duration
 * (see FAILURE_PENALTY_FACTOR).
 */
export function nextLatencyEwma(ewmaMs: number, kind: OutcomeKind, durationMs: number): number {
  const sample =
    kind === 'success'
      ? durationMs
      : Math.min(
          FAILURE_PENALTY_CAP_MS,
          Math.max(durationMs, ewmaMs * FAILURE_PENALTY_FACTOR, FAILURE_PENALTY_FLOOR_MS),
        );
  return ewmaMs === 0 ? sample : ewmaMs + EWMA_ALPHA * (sample - ewmaMs);
}

export class HostState implements DataPlaneHost {
  index = 0;
  readonly name: string;
  readonly pool: string;
  readonly address: string;
  readonly hostname: string;
  readonly port: number;
  configuredWeight: number;
  maxRequests: number;
  drain: boolean;

  effectiveWeight: number;
  inFlight = 0;
  /** The in-flight sum of every host of this pool, kept by each as it starts and ends a request. */
  readonly poolLoad: PoolLoad;
  latencyEwmaMs = 0;
  status: HostStatus = 'healthy';
  /** Why the status is what it is (last transition's reason). */
  statusReason = 'initial';

  /** Lifetime counters (monotonic, never reset by reloads). */
  requests = 0;
  failures = 0;
  /** Client bytes of the requests this backend answered: read from and sent to clients. */
  bytesIn = 0;
  bytesOut = 0;

  // Active checks.
  verdict: CheckVerdict = 'up';
  checkSuccesses = 0;
  checkFailures = 0;
  lastCheck: LastCheck | null = null;

  // Passive outlier detection.
  consecutiveErrors = 0;
  consecutiveLocalFailures = 0;
  /** Requests and successes in the current success-rate interval. */
  windowRequests = 0;
  windowSuccesses = 0;
  /** Monotonic deadline of the current ejection; 0 = not ejected. */
  ejectedUntil = 0;
  /** Lifetime ejection count. */
  ejections = 0;
  /** Multiplier of the next ejection time; decays while the backend stays in. */
  ejectionLevel = 0;
  /** Monotonic time the last ejection ended (-Infinity = never ejected). */
  lastEjectionEnd = Number.NEGATIVE_INFINITY;
  /** Monotonic end of the back-off after a refused connection; 0 = none (see refusalBackoff). */
  refusedUntil = 0;
  /** Back-offs since the backend last answered or passed a check (doubles the next one). */
  refusals = 0;

  // Flap dampening.
  /** Lifetime count of health flips (active check verdict up ↔ down; ejections back off on their own). */
  flaps = 0;
  /** Monotonic times of recent flips (at most `flips` kept). */
  flipTimes: number[] = [];
  /** Monotonic deadline of the current flap hold; 0 = not held. */
  heldUntil = 0;
  holds = 0;
  holdLevel = 0;
  lastHoldEnd = Number.NEGATIVE_INFINITY;
  /** The check verdict (true = up) the last status update saw, to count flips; undefined before the first. */
  lastHealthOk: boolean | undefined = undefined;

  // Drain and slow start.
  /** Set by a response carrying the pool's lame-duck header: drained until cleared. */
  lameDuck = false;
  /** Lower-cased response header that drains this backend (from the pool config), if any. */
  lameDuckHeader: string | undefined = undefined;
  /** Set by `fulcrum drain` (the health manager writes it); kept across reloads like all host state. */
  runtimeDrain: RuntimeDrain | undefined = undefined;
  /** Slow-start ramp factor in (0, 1]; 1 = full weight. */
  rampFactor = 1;
  rampStart = 0;

  observer: HostObserver | undefined = undefined;

  constructor(spec: HostSpec, poolLoad: PoolLoad = { inFlight: 0 }) {
    this.poolLoad = poolLoad;
    this.pool = spec.pool;
    this.name = spec.name;
    this.address = spec.address;
    this.hostname = spec.hostname;
    this.port = spec.port;
    this.configuredWeight = spec.weight;
    this.maxRequests = spec.maxRequests;
    this.drain = spec.drain;
    this.effectiveWeight = this.targetWeight;
    this.status = this.deriveStatus(0);
  }

  /** Drained by config (`drain: true` or weight 0), by a lame-duck answer or at runtime. */
  get draining(): boolean {
    return this.drain || this.configuredWeight <= 0 || this.lameDuck || this.runtimeDrain !== undefined;
  }

  /** Weight when in rotation: configured × slow-start ramp × drain. */
  get targetWeight(): number {
    return this.draining ? 0 : this.configuredWeight * this.rampFactor;
  }

  /** Can take a new request now (ignoring the pool's panic mode). */
  get available(): boolean {
    return !this.draining && (this.status === 'healthy' || this.status === 'slow-start');
  }

  /** Currently ejected by outlier detection (whatever the displayed status). */
  isEjected(now: number): boolean {
    return this.ejectedUntil > now;
  }

  /** The status the facts imply at `now` (precedence: draining, unknown, unhealthy, ejected, slow-start). */
  deriveStatus(now: number): HostStatus {
    if (this.draining) return 'draining';
    if (this.verdict === 'unknown') return 'unknown';
    if (this.verdict === 'down' || this.heldUntil > now) return 'unhealthy';
    if (this.isEjected(now) || this.refusedUntil > now) return 'ejected';
    if (this.rampFactor < 1) return 'slow-start';
    return 'healthy';
  }

  admit(): boolean {
    return this.inFlight < this.maxRequests;
  }

  /** Requests in flight on the whole pool (bounded-load consistent-hash reads it per pick). */
  get poolInFlight(): number {
    return this.poolLoad.inFlight;
  }

  requestStarted(): void {
    this.inFlight++;
    this.poolLoad.inFlight++;
    this.requests++;
  }

  requestFinished(kind: OutcomeKind, durationMs: number): void {
    this.inFlight--;
    this.poolLoad.inFlight--;
    this.latencyEwmaMs = nextLatencyEwma(this.latencyEwmaMs, kind, durationMs);
    this.recordOutcome(kind);
  }

  /**
   * Count a finished try for passive detection and tell the observer. With workers the try ran
   * on another thread (its in-flight and latency live in shared memory): the main thread calls
   * this for each outcome a worker hands over.
   */
  recordOutcome(kind: OutcomeKind): void {
    this.windowRequests++;
    if (kind === 'success') {
      this.windowSuccesses++;
      this.refusals = 0;
    } else {
      this.failures++;
    }
    this.observer?.outcome(this, kind);
  }

  /**
   * The backend answered with the pool's lame-duck header (`lameDuckHeader`): drain it. The
   * proxy calls this; in-flight requests finish, no new one is sent. It ends when an active
   * check passes without the header (or after a fixed time when the pool has no checks).
   */
  markLameDuck(): void {
    if (this.lameDuck) return;
    this.lameDuck = true;
    this.observer?.lameDuck(this);
  }
}

/** What the hosts of one pool have in flight together. */
export interface PoolLoad {
  inFlight: number;
}

/**
 * Keeps HostState objects across config versions. A backend's identity is its pool, name and
 * address — the name every view, metric and alert uses, and the address it is reached at: a
 * reload that keeps both keeps the backend's health and counters; a rename or a new address is
 * another backend, judged afresh (a new server must not inherit the old one's health).
 */
export class HostRegistry {
  readonly #hosts = new Map<string, HostState>();
  /** One in-flight sum per pool name, shared by its hosts of every snapshot (a retiring host's requests count until they end). */
  readonly #loads = new Map<string, PoolLoad>();

  static key(pool: string, name: string, address: string): string {
    return `${pool}\u0000${name}\u0000${address}`;
  }

  /** The existing state for the spec's backend, updated from spec, or a new one. */
  acquire(spec: HostSpec): HostState {
    const key = HostRegistry.key(spec.pool, spec.name, spec.address);
    let h = this.#hosts.get(key);
    if (h === undefined) {
      let load = this.#loads.get(spec.pool);
      if (load === undefined) this.#loads.set(spec.pool, (load = { inFlight: 0 }));
      h = new HostState(spec, load);
      this.#hosts.set(key, h);
    } else {
      h.configuredWeight = spec.weight;
      h.maxRequests = spec.maxRequests;
      h.drain = spec.drain;
    }
    return h;
  }

  /** Forget hosts no longer in the running config (after their in-flight requests ended). */
  retain(keys: ReadonlySet<string>): void {
    for (const k of this.#hosts.keys()) if (!keys.has(k)) this.#hosts.delete(k);
    // A pool no host is kept for is gone: its sum goes with it.
    const pools = new Set<string>();
    for (const h of this.#hosts.values()) pools.add(h.pool);
    for (const pool of this.#loads.keys()) if (!pools.has(pool)) this.#loads.delete(pool);
  }

  get(pool: string, name: string, address: string): HostState | undefined {
    return this.#hosts.get(HostRegistry.key(pool, name, address));
  }
}
