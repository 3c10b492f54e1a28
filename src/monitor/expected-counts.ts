// A backend's expected share over the window is what the balancer gave it request by request,
// not what it gives at the moment of a sample. Requests are counted per slot as they finish
// (PoolTrack.pending); a flush hands each slot's unattributed requests to the backends in
// proportion to the shares in force, as expected counts (EXP). The monitor flushes on every
// evaluation and, with the outgoing snapshot's shares, on every snapshot swap, so a bad config
// that ran for less than a second between two evaluations still has its own expected shares
// (a sampled share per slot gave that second the rollback's shares, and named the skewed
// backend overfed).
import { givenShares } from '../balancer/expected-shares.ts';
import { policyDescriptor } from '../balancer/registry.ts';
import type { PoolRuntime } from '../data-plane/snapshot.ts';
import { EXP, SLOT_MS, type BackendTrack, type PoolTrack } from './pool-track.ts';

/** Attribute the requests counted since the last flush to the shares `pr` gives now. */
export function flushExpected(p: PoolTrack, pr: PoolRuntime, now: number): void {
  const pending = p.pending;
  pending.advance(now);
  const cur = Math.floor(now / SLOT_MS);
  // Only the slots since the last flush can hold pending requests.
  const ages = Math.min(pending.slots - 1, cur - p.flushedSlot);
  p.flushedSlot = cur;
  if (!pending.allocated) return;
  let shares: number[] | undefined;
  for (let age = 0; age <= ages; age++) {
    const n = pending.at(age, 0);
    if (n === 0) continue;
    shares ??= givenShares(pr.state.givenWeights, policyDescriptor(pr.state.policy.name));
    pending.addAt(now, age, 0, -n);
    for (let i = 0; i < p.list.length; i++) {
      const e = shares[i] ?? 0;
      if (e > 0) (p.list[i] as BackendTrack).ring.addAt(now, age, EXP, e * n);
    }
  }
}
