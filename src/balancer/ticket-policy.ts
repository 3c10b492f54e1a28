// One global pick sequence for the deterministic policies across worker threads. Each thread
// computes the same schedule from the same inputs (the pool's candidates in config order and
// their effective weights, read from shared memory), and takes the position in it from one
// shared ticket counter. n consecutive tickets — whichever threads draw them — visit the
// schedule's positions n times in a row, so round-robin over k hosts gives every host ⌊n/k⌋
// or ⌈n/k⌉ picks and weighted round-robin gives each host its weight's share of every cycle,
// exactly as one thread would.
import type { BalancerHost, PickRequest, PickTrace, Policy } from './policy.ts';

const GOLDEN = 0.6180339887498949;

/** Longest schedule kept: weights whose exact cycle is longer are scaled down to fit. */
export const MAX_SCHEDULE = 65_536;

/**
 * One cycle of smooth weighted round robin over `weights`: the index of the host at each
 * position. A host of integer weight w appears exactly w times per cycle when the reduced
 * weights fit MAX_SCHEDULE (1000:1 does, 3:1:1 is a cycle of 5); fractional weights (slow
 * start) and huge cycles are scaled to a cycle of at most MAX_SCHEDULE positions, rounding
 * each positive weight to at least one position. A host's k-th position is due at
 * (k + φᵢ) / w, with phases φᵢ staggered by the golden ratio as weighted-round-robin does, so
 * lighter hosts fall between the runs of heavier ones (5:1:1 never runs more than three).
 */
export function smoothSchedule(weights: readonly number[]): Int32Array {
  const units = scheduleUnits(weights);
  let total = 0;
  for (const u of units) total += u;
  const keys = new Float64Array(total);
  const hostOf = new Int32Array(total);
  let p = 0;
  for (let i = 0; i < units.length; i++) {
    const w = units[i] as number;
    const phase = (0.5 + i * GOLDEN) % 1;
    for (let k = 0; k < w; k++) {
      keys[p] = (k + phase) / w;
      hostOf[p++] = i;
    }
  }
  const order = Array.from({ length: total }, (_, i) => i);
  order.sort(
    (a, b) => (keys[a] as number) - (keys[b] as number) || (hostOf[a] as number) - (hostOf[b] as number),
  );
  const schedule = new Int32Array(total);
  for (let i = 0; i < total; i++) schedule[i] = hostOf[order[i] as number] as number;
  return schedule;
}

/** Integer positions per host: the reduced weights when exact, else scaled to MAX_SCHEDULE. */
function scheduleUnits(weights: readonly number[]): number[] {
  const positive = weights.map((w) => (w > 0 && Number.isFinite(w) ? w : 0));
  if (positive.every((w) => Number.isInteger(w))) {
    let g = 0;
    for (const w of positive) if (w > 0) g = gcd(g, w);
    if (g > 0) {
      const reduced = positive.map((w) => w / g);
      if (reduced.reduce((a, b) => a + b, 0) <= MAX_SCHEDULE) return reduced;
    }
  }
  const sum = positive.reduce((a, b) => a + b, 0);
  if (sum === 0) return positive;
  const room = MAX_SCHEDULE - positive.length;
  return positive.map((w) => (w > 0 ? Math.max(1, Math.round((w / sum) * room)) : 0));
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/**
 * A policy that takes its turn from `ticket()` (a shared counter; each call returns the next
 * number) over the schedule of its hosts: every host in turn when `usesWeights` is false
 * (round-robin), else the smooth weighted cycle (weighted-round-robin). An excluded host's
 * turn is skipped by drawing the next ticket, as one thread would move on to the next host.
 */
export function ticketPolicy<H extends BalancerHost>(
  name: string,
  usesWeights: boolean,
  ticket: () => number,
): Policy<H> {
  let hosts: readonly H[] = [];
  let schedule: Int32Array = new Int32Array(0);
  return {
    name,
    setHosts(next) {
      hosts = next;
      schedule = usesWeights
        ? smoothSchedule(next.map((h) => h.effectiveWeight))
        : Int32Array.from(next, (_, i) => i);
    },
    pick(req: PickRequest, trace?: PickTrace): H | undefined {
      const length = schedule.length;
      if (length === 0) return undefined;
      const exclude = req.exclude;
      // Excluded hosts are few (retries, hosts at their cap); past this many draws, scan.
      const draws = exclude === undefined ? 1 : Math.min(length, 2 * hosts.length + 2);
      for (let i = 0; i < draws; i++) {
        // The counter is a wrapping int32: read it unsigned so the cycle goes on past 2^31.
        const t = ticket() >>> 0;
        const h = hosts[schedule[t % length] as number] as H;
        if (exclude?.has(h)) continue;
        if (trace) {
          trace.reason = `ticket ${t}: position ${t % length} of a shared cycle of ${length}`;
          trace.candidates.length = 0;
          trace.candidates.push({ name: h.name, score: t % length });
        }
        return h;
      }
      for (const h of hosts) if (!exclude?.has(h) && h.effectiveWeight > 0) return h;
      return undefined;
    },
  };
}
