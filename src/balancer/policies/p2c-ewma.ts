// p2c-ewma: power of two choices over latency. Draw two hosts by weight (alias method, O(1))
// and score each as latencyEwmaMs × (inFlight + weight) / weight; the lower score is the
// likelier winner. Until both have latency data, compare in-flight per unit of weight
// instead, as least-requests does (lower wins, ties keep the first draw).
//
// Two deliberate departures from the textbook "ewma × (inFlight + 1) / weight, lower
// wins", both so that weights are honoured when backends are equally fast (issue 2,
// "Done when"), measured by simulation and against loopback backends:
// - The candidates are already drawn by weight, so dividing the +1 term by weight again
//   counts the weight twice: at 3:1:1 with one request at a time the heavy host won every
//   pairing and took 84% instead of 60%. Scaling the +1 term by weight makes idle hosts of
//   any weight score their bare latency, and a loaded host score by its in-flight per unit
//   of weight, which is the load share weights ask for.
// - The winner is drawn in proportion to the other's score: the first candidate wins with
//   probability sb / (sa + sb). A hard "lower wins" starves the loser on noise: its EWMA is
//   only refreshed when it is picked, so one slow answer (a cold connection, a GC pause)
//   keeps it out until it is drawn twice in a row, and 3:1:1 shares drifted 4 to 18σ. With
//   the proportional draw, equal scores split evenly (so the weighted draws decide, and
//   shares hold), the loser keeps getting a little traffic that refreshes its EWMA, and a
//   host three times slower wins only a quarter of its pairings, far less under
//   concurrency where its in-flight grows too.
import type { BalancerHost, PickRequest, PickTrace, Policy, PolicyOptions } from '../policy.ts';
import { definePolicy } from '../define-policy.ts';
import { WeightedSampler } from '../weighted-sampler.ts';

/** A twice-drawn host yields to another only when that one scores this many times better. */
const DUPLICATE_SWITCH_MARGIN = 2;

/** latency × load per unit of weight (see above for why the +1 term is scaled by weight). */
function score(h: BalancerHost, weight: number): number {
  return (h.latencyEwmaMs * (h.inFlight + weight)) / weight;
}

export function p2cEwma<H extends BalancerHost>(options: PolicyOptions): Policy<H> {
  const random = options.random;
  const sampler = new WeightedSampler<H>(random);
  return {
    name: 'p2c-ewma',
    setHosts(hosts) {
      sampler.set(hosts);
    },
    pick(req: PickRequest, trace?: PickTrace): H | undefined {
      const a = sampler.pick(req.exclude);
      if (a < 0) return undefined;
      let b = sampler.pick(req.exclude);
      if (b === a) {
        // Drawn twice: with replacement a host keeps at least (w/W)² of the traffic however
        // slow or failing it is (1/9 of three equal hosts). Look at one other host, and let it
        // win only when it is clearly better, so idle equal hosts keep their weighted shares.
        const c = sampler.pick(req.exclude);
        if (c !== a && c >= 0) {
          const hc = sampler.hosts[c] as H;
          const h = sampler.hosts[a] as H;
          const sc = score(hc, sampler.weights[c] as number);
          const sh = score(h, sampler.weights[a] as number);
          if (hc.latencyEwmaMs > 0 && h.latencyEwmaMs > 0 && sc * DUPLICATE_SWITCH_MARGIN < sh) b = c;
        }
      }
      const ha = sampler.hosts[a] as H;
      const hb = sampler.hosts[b] as H;
      const wa = sampler.weights[a] as number;
      const wb = sampler.weights[b] as number;
      const latency = ha.latencyEwmaMs > 0 && hb.latencyEwmaMs > 0;
      let sa: number;
      let sb: number;
      let win: H;
      if (latency) {
        sa = score(ha, wa);
        sb = score(hb, wb);
        // One host drawn twice needs no coin (and keeps the random sequence short).
        win = a === b || random() * (sa + sb) < sb ? ha : hb;
      } else {
        sa = ha.inFlight / wa;
        sb = hb.inFlight / wb;
        win = sb < sa ? hb : ha;
      }
      if (trace) {
        trace.reason = latency
          ? `latency × load of two weighted draws, lower score likelier: ${win.name}`
          : `no latency data yet, fewer in-flight per weight of two weighted draws: ${win.name}`;
        trace.candidates.length = 0;
        trace.candidates.push({ name: ha.name, score: sa }, { name: hb.name, score: sb });
      }
      return win;
    },
  };
}

export const p2cEwmaPolicy = definePolicy({
  name: 'p2c-ewma',
  usesWeights: true,
  fairnessMeasure: 'in-flight-latency-per-weight',
  hashKeyed: false,
  deterministic: false,
  create: p2cEwma,
});
