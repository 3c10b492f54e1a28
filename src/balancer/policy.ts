// The selection contract every policy implements. Policies are pure data structures over
// hosts: they know no HTTP library and no config types, only plain option objects.

/** What a policy may read about a backend. The pool's host state implements it. */
export interface BalancerHost {
  /** Position of the backend in its pool (stable for one snapshot). */
  readonly index: number;
  readonly name: string;
  /** Weight to honour now (configured × health × slow start × drain). Never negative. */
  readonly effectiveWeight: number;
  /** Requests currently forwarded to this backend and not yet finished. */
  readonly inFlight: number;
  /**
   * Requests in flight on the host's whole pool, when the host keeps that sum (HostState on one
   * thread, SharedHost in a worker: the pool's shared word); otherwise a policy that needs it
   * adds up its hosts' inFlight.
   */
  readonly poolInFlight?: number;
  /** Exponentially weighted moving average of response latency in milliseconds (0 before data). */
  readonly latencyEwmaMs: number;
}

/** Per-request input to a pick. Reused objects are fine: policies never keep a reference. */
export interface PickRequest {
  /** Hash key for `consistent-hash` (source ip, header, cookie or path value). */
  hashKey?: string | undefined;
  /** Hosts that must not be chosen (tried already by a retry, or at their request cap). */
  exclude?: ReadonlySet<BalancerHost> | undefined;
}

/** Filled by a pick only when the request asked to explain it (x-fulcrum-explain). */
export interface PickTrace {
  /** Short words on how the choice was made, e.g. "edf deadline 1.20 (lowest)". */
  reason: string;
  candidates: { name: string; score: number }[];
}

export interface Policy<H extends BalancerHost = BalancerHost> {
  readonly name: string;
  /**
   * Replace the candidate set: the available hosts with their effective weights.
   * Called off the request path whenever health, drain or slow start change a weight.
   */
  setHosts(hosts: readonly H[]): void;
  /** Choose a host in O(1) or O(log n); undefined when no candidate is left. */
  pick(req: PickRequest, trace?: PickTrace): H | undefined;
}

export interface PolicyOptions {
  /** Uniform [0, 1) source; tests inject a seeded one for exact sequences. */
  random: () => number;
  /** `consistent-hash` only: bounded-load factor (≥ 1). */
  balanceFactor?: number;
}

export type PolicyFactory = <H extends BalancerHost>(options: PolicyOptions) => Policy<H>;

/**
 * What the fairness judge compares across a pool's backends: request counts, or — for
 * load-aware policies, which balance concurrency rather than counts — mean in-flight per unit of
 * weight (least-requests) or in-flight × latency per unit of weight (p2c-ewma).
 */
export type FairnessMeasure = 'requests' | 'in-flight-per-weight' | 'in-flight-latency-per-weight';

/**
 * Everything the rest of fulcrum may ask about a policy, in one place (its own file): the
 * registry, the config schema's names, lint, diff, the monitor and audits read these facts
 * instead of comparing policy names.
 */
export interface PolicyDescriptor<N extends string = string> {
  /** The config name; equals the policy's file name. */
  readonly name: N;
  /** False when every available backend gets an equal turn whatever its weight. */
  readonly usesWeights: boolean;
  readonly fairnessMeasure: FairnessMeasure;
  /** True when picks follow a hash key (the pool's `hash` settings apply). */
  readonly hashKeyed: boolean;
  /**
   * True when the pick sequence is fixed by the weights alone (no randomness, no load), so
   * the monitor may hold the policy to its exact cycle.
   */
  readonly deterministic: boolean;
  readonly create: PolicyFactory;
}
