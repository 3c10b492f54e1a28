// Expected share of each backend as configured: what the balancer is meant to do when every
// backend is healthy. The monitor judges observed shares against the same numbers.
import type { PoolConfig } from './schema.ts';
import { policyDescriptor } from '../balancer/registry.ts';

export interface PredictedShare {
  readonly backend: string;
  /** The weight the policy honours: configured weight, 0 when drained, 1 when the policy ignores weights. */
  readonly weight: number;
  /** weight / sum of weights in the pool (0..1); all 0 when no backend can take traffic. */
  readonly expectedShare: number;
}

/** False when the policy gives every available backend an equal turn whatever its weight. */
export function policyUsesWeights(policy: string): boolean {
  return policyDescriptor(policy).usesWeights;
}

export function predictShares(pool: PoolConfig): PredictedShare[] {
  const equal = !policyUsesWeights(pool.policy);
  // A weight-0 backend takes no traffic under any policy (the panic base excludes it too).
  const weights = pool.backends.map((b) => (b.drain || b.weight === 0 ? 0 : equal ? 1 : b.weight));
  const total = weights.reduce((sum, w) => sum + w, 0);
  return pool.backends.map((b, i) => {
    const weight = weights[i] ?? 0;
    return { backend: b.name, weight, expectedShare: total === 0 ? 0 : weight / total };
  });
}
