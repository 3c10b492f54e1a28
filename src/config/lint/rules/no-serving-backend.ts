import { defineRule } from '../types.ts';
import { servingBackends } from '../pool-facts.ts';

export const noServingBackend = defineRule({
  id: 'no-serving-backend',
  severity: 'error',
  title: 'Every backend of a pool is drained or weighted 0',
  rationale: 'A pool with no serving backend answers every request with 503 (FULCRUM_ERR_PROXY_NO_BACKEND).',
  remediation: 'Undrain at least one backend or give it a positive weight; remove the pool if it is retired.',
  parameters: {},
  parameterDocs: {},
  check({ config }) {
    const hits = [];
    for (const [name, pool] of Object.entries(config.pools)) {
      if (servingBackends(pool).length === 0) {
        hits.push({
          path: ['pools', name, 'backends'],
          message: `pool ${name} has no serving backend (all ${pool.backends.length} drained or weight 0): every request gets 503`,
        });
      }
    }
    return hits;
  },
});
