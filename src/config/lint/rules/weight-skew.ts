import { defineRule } from '../types.ts';
import { policyUsesWeights, ratio, servingBackends } from '../pool-facts.ts';

export const weightSkew = defineRule({
  id: 'weight-skew',
  severity: 'error',
  title: 'Weights within a pool are skewed beyond the allowed ratio',
  rationale:
    'One backend weighted far above its peers receives most of the traffic and is the first to overload; ' +
    'this is the misconfiguration behind the postmortem (30% of users got 503 for four hours).',
  remediation:
    'Bring the weights within the ratio, or declare the difference as `capacity` and raise `maxRatio` for this pool on purpose.',
  parameters: { maxRatio: 3 },
  parameterDocs: { maxRatio: 'largest allowed max/min configured weight among serving backends' },
  check({ config, params }) {
    const hits = [];
    for (const [name, pool] of Object.entries(config.pools)) {
      const serving = servingBackends(pool);
      if (serving.length < 2) continue;
      let hi = serving[0]!;
      let lo = serving[0]!;
      for (const s of serving) {
        if (s.backend.weight > hi.backend.weight) hi = s;
        if (s.backend.weight < lo.backend.weight) lo = s;
      }
      const r = hi.backend.weight / lo.backend.weight;
      if (r <= params.maxRatio) continue;
      const share = hi.backend.weight / serving.reduce((sum, s) => sum + s.backend.weight, 0);
      const note = policyUsesWeights(pool.policy)
        ? ''
        : ` (ignored today by ${pool.policy}, but it is the configured intent)`;
      hits.push({
        path: ['pools', name, 'backends', hi.index, 'weight'],
        message:
          `${hi.backend.name} weight ${hi.backend.weight} is ${ratio(r)}× ${lo.backend.name} weight ${lo.backend.weight} ` +
          `(max ${params.maxRatio}×); ${hi.backend.name} would take ${Math.round(share * 100)}% of pool ${name}${note}`,
      });
    }
    return hits;
  },
});
