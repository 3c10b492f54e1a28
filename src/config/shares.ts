// Expected share of each backend as configured: what the balancer is meant to do when every
// backend is healthy (config diff and lint). The maths is balancer/expected-shares.ts, the
// same the monitor and the audit use on the running pool.
import type { PoolConfig } from './schema.ts';
import { configuredShareWeight, sharesOf } from '../balancer/expected-shares.ts';
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
  const facts = policyDescriptor(pool.policy);
  const weights = pool.backends.map((b) => configuredShareWeight(b, facts));
  const shares = sharesOf(weights);
  return pool.backends.map((b, i) => ({
    backend: b.name,
    weight: weights[i] ?? 0,
    expectedShare: shares[i] ?? 0,
  }));
}
