import { defineRule } from '../types.ts';
import { pct, servingBackends } from '../pool-facts.ts';

export const panicThreshold = defineRule({
  id: 'panic-threshold',
  severity: 'warning',
  title: 'Losing one backend sends the pool into panic',
  rationale:
    'In panic the pool balances across all backends, healthy or not, so a share of requests goes to the dead one. ' +
    'If one lost backend already drops the available fraction below `panicThreshold`, every routine failure becomes panic.',
  remediation: 'Lower `panicThreshold` below (backends − 1) / backends, or add backends.',
  parameters: {},
  parameterDocs: {},
  check({ config }) {
    const hits = [];
    for (const [name, pool] of Object.entries(config.pools)) {
      const n = servingBackends(pool).length;
      if (n < 2) continue; // a single backend is single-backend's finding
      const afterOne = (n - 1) / n;
      if (afterOne >= pool.panicThreshold) continue;
      hits.push({
        path: ['pools', name, 'panicThreshold'],
        message: `panicThreshold ${pct(pool.panicThreshold)} in pool ${name}: losing 1 of ${n} backends leaves ${pct(afterOne)} and panics`,
      });
    }
    return hits;
  },
});
