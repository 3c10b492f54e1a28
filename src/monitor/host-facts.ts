// The rules' host facts of a pool, kept from one evaluation to the next while none changes.
import type { PoolRuntime } from '../data-plane/snapshot.ts';
import type { PoolTrack } from './pool-track.ts';
import type { HostFacts } from './rules/rule-context.ts';

/**
 * The rules' view of a pool's hosts: the last evaluation's while none of them changed, instead
 * of a new object per backend per evaluation (a pool of 1,000 backends, bench/RESULTS.md).
 */
export function hostFacts(p: PoolTrack, pr: PoolRuntime, now: number): readonly HostFacts[] {
  const flapWindow = pr.config.flapDampening.window;
  const hosts = pr.state.hosts;
  const last = p.hostFacts !== undefined && p.hostFacts.length === hosts.length ? p.hostFacts : undefined;
  // Undefined while every host matches the last facts; the new list from the first that does not.
  let facts: HostFacts[] | undefined = last === undefined ? [] : undefined;
  for (let i = 0; i < hosts.length; i++) {
    const h = hosts[i] as (typeof hosts)[number];
    const b = p.backends.get(h.name);
    if (b && !h.available) b.lastUnavailable = now;
    // Drained on purpose, by config or `fulcrum drain`: the rules treat both alike.
    const drain = h.drain || h.runtimeDrain !== undefined;
    const flips = b ? recentFlips(b.flips, now, flapWindow) : 0;
    if (facts === undefined) {
      const f = (last as readonly HostFacts[])[i] as HostFacts;
      if (
        f.name === h.name &&
        f.address === h.address &&
        f.status === h.status &&
        f.available === h.available &&
        f.drain === drain &&
        f.configuredWeight === h.configuredWeight &&
        f.flips === flips
      )
        continue;
      facts = (last as readonly HostFacts[]).slice(0, i);
    }
    facts.push({
      name: h.name,
      address: h.address,
      status: h.status,
      available: h.available,
      drain,
      configuredWeight: h.configuredWeight,
      flips,
    });
  }
  if (facts === undefined) return last as readonly HostFacts[];
  p.hostFacts = facts;
  return facts;
}

/** Flips within the flap window, counted without a filtered copy per backend per second. */
function recentFlips(flips: readonly number[], now: number, window: number): number {
  let n = 0;
  for (const t of flips) if (now - t <= window) n++;
  return n;
}
