// Small facts about pools that several rules share.
import type { BackendConfig, PoolConfig } from '../schema.ts';

export interface IndexedBackend {
  readonly index: number;
  readonly backend: BackendConfig;
}

/** Backends meant to take traffic: not drained and weighted above zero (the pool's panic base). */
export function servingBackends(pool: PoolConfig): IndexedBackend[] {
  const out: IndexedBackend[] = [];
  pool.backends.forEach((backend, index) => {
    if (!backend.drain && backend.weight > 0) out.push({ index, backend });
  });
  return out;
}

export { policyUsesWeights } from '../shares.ts';

/** `0.5` → `50%`, `0.125` → `12.5%`. */
export function pct(fraction: number): string {
  return `${Number((fraction * 100).toFixed(1))}%`;
}

/** A ratio for messages: `10`, `3.3`. */
export function ratio(x: number): string {
  return `${Number(x.toFixed(1))}`;
}
