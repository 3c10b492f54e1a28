import { defineRule } from '../types.ts';
import { servingBackends } from '../pool-facts.ts';

export const fewBackends = defineRule({
  id: 'few-backends',
  severity: 'warning',
  title: 'A pool has fewer than three serving backends',
  rationale:
    'With two backends, losing one doubles the load on the other; N+1 redundancy during a deploy needs at least three.',
  remediation: 'Add a third backend, or accept the risk with `--skip few-backends`.',
  parameters: { recommendedBackends: 3, minBackends: 2 },
  parameterDocs: {
    recommendedBackends: 'serving backends below which the pool gets this warning',
    minBackends: 'counts below this are single-backend errors instead (keep equal to its parameter)',
  },
  check({ config, params }) {
    const hits = [];
    for (const [name, pool] of Object.entries(config.pools)) {
      const n = servingBackends(pool).length;
      if (n < params.minBackends || n >= params.recommendedBackends) continue;
      hits.push({
        path: ['pools', name, 'backends'],
        message: `pool ${name} has ${n} serving backends (recommended ${params.recommendedBackends}): losing one puts all load on the rest`,
      });
    }
    return hits;
  },
});
