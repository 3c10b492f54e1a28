// consistent-hash: a ring with virtual nodes in proportion to weight (see hash-ring.ts);
// the key's home is the owner of the first point clockwise of its hash, found by binary
// search in O(log P). Bounded loads (Mirrokni, Thorup, Zadimoghaddam, "Consistent Hashing
// with Bounded Loads", 2016): with T requests in flight in the pool, a host of weight share
// s is full when its in-flight ≥ ceil(balanceFactor × (T + 1) × s); the walk then goes on
// clockwise to the next host that is not full. The capacities add up to more than T, so
// some host always has room.
//
// Why a ring and not Maglev: Maglev's O(1) lookup table balances keys more evenly but
// moves more keys than the minimum on a change and must be rebuilt whole (its size a
// prime well above n × 100) on every weight step of a slow start; the ring moves only the
// changed host's keys, and its O(log P) search is a dozen comparisons.
//
// Without a key (header or cookie missing) the pick is a weighted random draw.
import type { BalancerHost, PickRequest, PickTrace, Policy, PolicyOptions } from '../policy.ts';
import { definePolicy } from '../define-policy.ts';
import { WeightedSampler } from '../weighted-sampler.ts';
import { buildRing, hash32, ringFind, type Ring } from '../hash-ring.ts';

export { keysMoved } from '../hash-ring.ts';

/** The config schema's default, for callers that pass no balanceFactor. */
export const DEFAULT_BALANCE_FACTOR = 1.25;

export function consistentHash<H extends BalancerHost>(options: PolicyOptions): Policy<H> {
  const factor = Math.max(1, options.balanceFactor ?? DEFAULT_BALANCE_FACTOR);
  const sampler = new WeightedSampler<H>(options.random);
  let ring: Ring = buildRing([]);
  /** Weight share of each host, parallel to sampler.hosts. */
  let shares = new Float64Array(0);
  /** Hosts already looked at by the current walk: stamp[i] === epoch. */
  let stamps = new Uint32Array(0);
  let epoch = 0;

  function full(i: number, inFlight: number, total: number): boolean {
    return inFlight >= Math.ceil(factor * (total + 1) * (shares[i] as number));
  }

  return {
    name: 'consistent-hash',
    setHosts(hosts) {
      sampler.set(hosts);
      const members = sampler.hosts.map((h, i) => ({ name: h.name, weight: sampler.weights[i] as number }));
      ring = buildRing(members);
      shares = new Float64Array(members.length);
      for (let i = 0; i < members.length; i++)
        shares[i] = (sampler.weights[i] as number) / sampler.totalWeight;
      stamps = new Uint32Array(members.length);
      epoch = 0;
    },
    pick(req: PickRequest, trace?: PickTrace): H | undefined {
      const n = sampler.size;
      if (n === 0) return undefined;
      const exclude = req.exclude;
      const key = req.hashKey;
      if (key === undefined) {
        const i = sampler.pick(exclude);
        if (i < 0) return undefined;
        const h = sampler.hosts[i] as H;
        if (trace) {
          trace.reason = 'no hash key: weighted random draw';
          trace.candidates.length = 0;
          trace.candidates.push({ name: h.name, score: shares[i] as number });
        }
        return h;
      }
      if (++epoch === 0xffffffff) {
        stamps.fill(0);
        epoch = 1;
      }
      const points = ring.points.length;
      const owners = ring.owners;
      let at = ringFind(ring, hash32(key));
      let home = -1;
      let firstAllowed = -1;
      let chosen = -1;
      let seen = 0;
      // The pool's total in flight: kept by the hosts (O(1)) or summed (O(n)), and then only
      // when a host might be full: an idle host never is, nor one below the bound that T ≥ its
      // own load implies.
      let total = -1;
      for (let step = 0; step < points && seen < n; step++, at = at + 1 === points ? 0 : at + 1) {
        const o = owners[at] as number;
        if (stamps[o] === epoch) continue;
        stamps[o] = epoch;
        seen++;
        if (home < 0) home = o;
        const h = sampler.hosts[o] as H;
        if (exclude !== undefined && exclude.has(h)) continue;
        if (firstAllowed < 0) firstAllowed = o;
        const inFlight = h.inFlight;
        if (inFlight > 0 && full(o, inFlight, inFlight)) {
          if (total < 0) {
            const kept = h.poolInFlight;
            if (kept !== undefined) total = kept;
            else {
              total = 0;
              for (let i = 0; i < n; i++) total += (sampler.hosts[i] as H).inFlight;
            }
          }
          if (full(o, inFlight, total)) continue;
        }
        chosen = o;
        break;
      }
      // Only exclusions can leave every host full; the key's nearest allowed host then.
      if (chosen < 0) chosen = firstAllowed;
      if (chosen < 0) return undefined;
      const h = sampler.hosts[chosen] as H;
      if (trace) {
        const homeHost = sampler.hosts[home] as H;
        trace.reason =
          chosen === home
            ? `ring home of the key: ${h.name}`
            : `ring home ${homeHost.name} full or excluded, next clockwise: ${h.name}`;
        trace.candidates.length = 0;
        trace.candidates.push({ name: homeHost.name, score: homeHost.inFlight });
        if (chosen !== home) trace.candidates.push({ name: h.name, score: h.inFlight });
      }
      return h;
    },
  };
}

export const consistentHashPolicy = definePolicy({
  name: 'consistent-hash',
  usesWeights: true,
  fairnessMeasure: 'requests',
  hashKeyed: true,
  deterministic: false,
  create: consistentHash,
});
