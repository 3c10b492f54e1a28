import { defineRule } from '../types.ts';
import { policyUsesWeights, servingBackends } from '../pool-facts.ts';

export const weightsIgnored = defineRule({
  id: 'weights-ignored',
  severity: 'warning',
  title: 'Unequal weights on a policy that ignores weights',
  rationale:
    'round-robin gives every backend an equal turn whatever its weight; the config claims a distribution the balancer will not produce.',
  remediation: 'Use `policy: weighted-round-robin` (or another weighted policy), or make the weights equal.',
  parameters: {},
  parameterDocs: {},
  check({ config }) {
    const hits = [];
    for (const [name, pool] of Object.entries(config.pools)) {
      if (policyUsesWeights(pool.policy)) continue;
      const weights = new Set(servingBackends(pool).map((s) => s.backend.weight));
      if (weights.size <= 1) continue;
      hits.push({
        path: ['pools', name, 'policy'],
        message: `pool ${name} uses ${pool.policy}, which ignores its unequal weights (${[...weights].join(', ')}): every backend gets an equal share`,
      });
    }
    return hits;
  },
});
