// weighted-round-robin: smooth weighted round robin by earliest deadline first, as Traefik
// does. Each host with weight w owns a deadline on a virtual clock and is due every 1/w
// units; a pick takes the host with the earliest deadline off a binary heap and moves its
// deadline on by 1/w, so a pick costs O(log n) and fractional weights (slow start) just
// work. Over one virtual unit every host is picked exactly its weight's worth of times.
//
// Hosts start at staggered phases, host i at (1 - frac(seed + i·φ)) / w with φ the golden
// ratio and seed drawn from options.random: hosts of equal weight never tie, lighter hosts
// fall between the runs of heavier ones (5:1:1 gives a b a a c a a, never more than three
// a's in a row), and two instances with different seeds start at different points of the
// cycle instead of marching in step.
import type { BalancerHost, PickRequest, PickTrace, Policy, PolicyOptions } from '../policy.ts';
import { definePolicy } from '../define-policy.ts';

const GOLDEN = 0.6180339887498949;
/** Past this virtual time, deadlines are shifted back to keep float precision. */
const REBASE_AT = 2 ** 32;

interface Entry<H> {
  readonly host: H;
  weight: number;
  /** 1 / weight, the virtual time between two picks. */
  step: number;
  deadline: number;
}

function before<H extends BalancerHost>(a: Entry<H>, b: Entry<H>): boolean {
  return a.deadline < b.deadline || (a.deadline === b.deadline && a.host.index < b.host.index);
}

export function weightedRoundRobin<H extends BalancerHost>(options: PolicyOptions): Policy<H> {
  const seed = options.random();
  let heap: Entry<H>[] = [];
  let size = 0;
  /** Virtual time: the deadline of the last pick. */
  let now = 0;
  let byHost = new Map<H, Entry<H>>();
  /** Entries popped because they were excluded, pushed back after the pick. */
  let skipped: Entry<H>[] = [];

  function siftUp(i: number): void {
    const e = heap[i] as Entry<H>;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pe = heap[p] as Entry<H>;
      if (!before(e, pe)) break;
      heap[i] = pe;
      i = p;
    }
    heap[i] = e;
  }

  function siftDown(i: number): void {
    const e = heap[i] as Entry<H>;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= size) break;
      const r = l + 1;
      let c = l;
      if (r < size && before(heap[r] as Entry<H>, heap[l] as Entry<H>)) c = r;
      const ce = heap[c] as Entry<H>;
      if (!before(ce, e)) break;
      heap[i] = ce;
      i = c;
    }
    heap[i] = e;
  }

  function popTop(): Entry<H> {
    const top = heap[0] as Entry<H>;
    size--;
    if (size > 0) {
      heap[0] = heap[size] as Entry<H>;
      siftDown(0);
    }
    return top;
  }

  function push(e: Entry<H>): void {
    heap[size] = e;
    siftUp(size++);
  }

  function rebase(): void {
    for (let i = 0; i < size; i++) (heap[i] as Entry<H>).deadline -= now;
    now = 0;
  }

  return {
    name: 'weighted-round-robin',
    setHosts(hosts) {
      const next = new Map<H, Entry<H>>();
      const entries: Entry<H>[] = [];
      for (const h of hosts) {
        const w = h.effectiveWeight;
        if (!(w > 0) || !Number.isFinite(w)) continue;
        const old = byHost.get(h);
        let e: Entry<H>;
        if (old !== undefined) {
          // Keep the host's place in the cycle: the wait still ahead of it shrinks or grows
          // with its weight. A host that was skipped while excluded (deadline already past)
          // waits nothing, but does not catch up either: no burst after a weight change.
          const ahead = Math.max(0, old.deadline - now);
          old.deadline = (ahead * old.weight) / w;
          old.weight = w;
          old.step = 1 / w;
          e = old;
        } else {
          // A new host joins at its phase from now, like any other, not at time 0.
          const phase = 1 - ((seed + h.index * GOLDEN) % 1);
          e = { host: h, weight: w, step: 1 / w, deadline: phase / w };
        }
        next.set(h, e);
        entries.push(e);
      }
      byHost = next;
      now = 0;
      heap = entries;
      size = entries.length;
      for (let i = (size >> 1) - 1; i >= 0; i--) siftDown(i);
      skipped = new Array<Entry<H>>(size);
    },
    pick(req: PickRequest, trace?: PickTrace): H | undefined {
      const exclude = req.exclude;
      let nskipped = 0;
      let chosen: Entry<H> | undefined;
      while (size > 0) {
        const top = heap[0] as Entry<H>;
        if (exclude !== undefined && exclude.has(top.host)) {
          skipped[nskipped++] = popTop();
          continue;
        }
        chosen = top;
        break;
      }
      let due = now;
      if (chosen !== undefined) {
        // A host that lags behind (it was excluded at its turn) is served now, not at its
        // old deadline, so it takes its turn once instead of catching up in a burst.
        due = chosen.deadline > now ? chosen.deadline : now;
        now = due;
        chosen.deadline = due + chosen.step;
        siftDown(0);
      }
      for (let i = 0; i < nskipped; i++) push(skipped[i] as Entry<H>);
      if (chosen === undefined) return undefined;
      if (now > REBASE_AT) rebase();
      if (trace) {
        trace.reason = `earliest deadline first: ${chosen.host.name} due at ${due.toFixed(3)} (every ${chosen.step.toFixed(3)})`;
        trace.candidates.length = 0;
        trace.candidates.push({ name: chosen.host.name, score: due });
      }
      return chosen.host;
    },
  };
}

export const weightedRoundRobinPolicy = definePolicy({
  name: 'weighted-round-robin',
  usesWeights: true,
  fairnessMeasure: 'requests',
  hashKeyed: false,
  deterministic: true,
  create: weightedRoundRobin,
});
