// Fraction of hash keys that land on a different backend when a consistent-hash pool
// changes, measured on the very ring the policy builds (src/balancer/hash-ring.ts).
import { keysMoved, type RingMember } from '../../balancer/hash-ring.ts';
import type { PoolConfig } from '../schema.ts';
import { policyDescriptor } from '../../balancer/registry.ts';

/** The ring's members as configured: drained backends own no points. */
function members(pool: PoolConfig): RingMember[] {
  return pool.backends.map((b) => ({ name: b.name, weight: b.drain ? 0 : b.weight }));
}

/**
 * Fraction (0..1) of keys whose backend changes from `before` to `after`; undefined unless
 * both pools use consistent-hash. A changed hash key source moves every key.
 */
export function estimateKeysMoved(before: PoolConfig | undefined, after: PoolConfig): number | undefined {
  if (before === undefined || !policyDescriptor(before.policy).hashKeyed) return undefined;
  if (!policyDescriptor(after.policy).hashKeyed) return undefined;
  if (before.hash.key !== after.hash.key) return 1;
  return keysMoved(members(before), members(after));
}
