// Expected share: what fraction of a pool's new requests the balancer gives each backend. One
// maths for every reader — config diff and lint (from the config alone), the monitor's
// fairness verdicts and /api/v1/pools (the dashboard), and the distribution audit (from the
// running pool). The balancer's facts it follows: a weight-blind policy gives every candidate
// an equal turn; a weighted one gives each its effective weight, which PoolState.refresh sets
// to the target weight (configured × slow-start ramp, 0 when draining) for every candidate —
// in panic too, where unhealthy hosts are candidates; a host that is no candidate gets 0.

/** Shares proportional to weights (non-positive weights get 0); all 0 when none is positive. */
export function sharesOf(weights: readonly number[]): number[] {
  let sum = 0;
  for (const w of weights) sum += w > 0 ? w : 0;
  return weights.map((w) => (sum > 0 && w > 0 ? w / sum : 0));
}

/** What the share maths needs of a policy (its descriptor). */
export interface ShareFacts {
  readonly usesWeights: boolean;
}

/** A configured backend. */
export interface ConfiguredBackend {
  readonly weight: number;
  readonly drain: boolean;
}

/** The weight a policy honours for a configured backend when every backend is healthy. */
export function configuredShareWeight(b: ConfiguredBackend, policy: ShareFacts): number {
  // A weight-0 backend is drained: it takes no traffic under any policy, not even in panic.
  if (b.drain || b.weight <= 0) return 0;
  return policy.usesWeights ? b.weight : 1;
}

/** Expected shares from the config alone (every backend healthy, no ramp): diff and lint. */
export function configuredShares(backends: readonly ConfiguredBackend[], policy: ShareFacts): number[] {
  return sharesOf(backends.map((b) => configuredShareWeight(b, policy)));
}

/** A running host, as PoolState.refresh() left it. */
export interface RunningHost {
  /** Target weight while a candidate (panic included), else 0. */
  readonly effectiveWeight: number;
  readonly configuredWeight: number;
}

/**
 * Expected shares from the weights a pool gave its hosts at its last refresh
 * (PoolState.givenWeights): what that pool balanced by, even after a later snapshot has
 * rewritten the shared hosts' effective weights.
 */
export function givenShares(weights: readonly number[], policy: ShareFacts): number[] {
  return sharesOf(weights.map((w) => (w <= 0 ? 0 : policy.usesWeights ? w : 1)));
}

/**
 * Expected shares of a running pool now. `intendedWeight` (the audit's desired source) swaps
 * the configured weight for another while keeping the runtime's health, ramp and drain:
 * undefined from it means the intent drains or lacks the backend.
 */
export function runningShares<H extends RunningHost>(
  hosts: readonly H[],
  policy: ShareFacts,
  intendedWeight?: (h: H) => number | undefined,
): number[] {
  return sharesOf(
    hosts.map((h) => {
      if (h.effectiveWeight <= 0) return 0;
      if (!policy.usesWeights) return 1;
      if (intendedWeight === undefined) return h.effectiveWeight;
      const w = intendedWeight(h);
      if (w === undefined) return 0;
      return h.configuredWeight > 0 ? (w * h.effectiveWeight) / h.configuredWeight : w;
    }),
  );
}
