// round-robin: each available host in turn, ignoring weights.
import type { BalancerHost, PickRequest, PickTrace, Policy, PolicyOptions } from '../policy.ts';

export function roundRobin<H extends BalancerHost>(options: PolicyOptions): Policy<H> {
  let hosts: readonly H[] = [];
  // Start at a random offset so several balancer instances don't march in step.
  let next = Math.floor(options.random() * 1024);
  return {
    name: 'round-robin',
    usesWeights: false,
    setHosts(h) {
      hosts = h;
    },
    pick(req: PickRequest, trace?: PickTrace): H | undefined {
      const n = hosts.length;
      for (let tries = 0; tries < n; tries++) {
        const h = hosts[next++ % n] as H;
        if (req.exclude?.has(h)) continue;
        if (trace) trace.reason = `next in turn (${n} candidates)`;
        return h;
      }
      return undefined;
    },
  };
}
