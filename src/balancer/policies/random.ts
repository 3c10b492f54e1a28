// random: each pick an independent weighted draw (alias method, O(1)).
import type { BalancerHost, PickRequest, PickTrace, Policy, PolicyOptions } from '../policy.ts';
import { definePolicy } from '../define-policy.ts';
import { WeightedSampler } from '../weighted-sampler.ts';

export function random<H extends BalancerHost>(options: PolicyOptions): Policy<H> {
  const sampler = new WeightedSampler<H>(options.random);
  return {
    name: 'random',
    setHosts(hosts) {
      sampler.set(hosts);
    },
    pick(req: PickRequest, trace?: PickTrace): H | undefined {
      const i = sampler.pick(req.exclude);
      if (i < 0) return undefined;
      const h = sampler.hosts[i] as H;
      if (trace) {
        const w = sampler.weights[i] as number;
        trace.reason = `weighted random draw (weight ${w} of ${sampler.totalWeight})`;
        trace.candidates.length = 0;
        trace.candidates.push({ name: h.name, score: w / sampler.totalWeight });
      }
      return h;
    },
  };
}

export const randomPolicy = definePolicy({
  name: 'random',
  usesWeights: true,
  fairnessMeasure: 'requests',
  hashKeyed: false,
  deterministic: false,
  create: random,
});
