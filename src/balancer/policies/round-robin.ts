// round-robin: each host in turn, ignoring weights. O(1) per pick (O(k) with k excluded).
import type { BalancerHost, PickRequest, PickTrace, Policy, PolicyOptions } from '../policy.ts';
import { definePolicy } from '../define-policy.ts';

export function roundRobin<H extends BalancerHost>(options: PolicyOptions): Policy<H> {
  let hosts: readonly H[] = [];
  // Start at a random offset so several balancer instances don't march in step.
  let next = Math.floor(options.random() * 1024);
  return {
    name: 'round-robin',
    setHosts(h) {
      hosts = h;
    },
    pick(req: PickRequest, trace?: PickTrace): H | undefined {
      const n = hosts.length;
      for (let tries = 0; tries < n; tries++) {
        const i = next % n;
        next = i + 1;
        const h = hosts[i] as H;
        if (req.exclude?.has(h)) continue;
        if (trace) {
          trace.reason = `next in turn (position ${i} of ${n})`;
          trace.candidates.length = 0;
          trace.candidates.push({ name: h.name, score: i });
        }
        return h;
      }
      return undefined;
    },
  };
}

export const roundRobinPolicy = definePolicy({
  name: 'round-robin',
  usesWeights: false,
  fairnessMeasure: 'requests',
  hashKeyed: false,
  deterministic: true,
  create: roundRobin,
});
