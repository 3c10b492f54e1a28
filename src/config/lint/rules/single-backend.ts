import { defineRule } from '../types.ts';
import { servingBackends } from '../pool-facts.ts';

export const singleBackend = defineRule({
  id: 'single-backend',
  severity: 'error',
  title: 'A pool has fewer than two serving backends',
  rationale:
    'With one serving backend there is nothing to balance: its failure, deploy or restart is an outage of the pool.',
  remediation: 'Add a second backend (on a different host), or undrain one.',
  parameters: { minBackends: 2 },
  parameterDocs: { minBackends: 'fewest serving (not drained, weight > 0) backends a pool may have' },
  check({ config, params }) {
    const hits = [];
    for (const [name, pool] of Object.entries(config.pools)) {
      const n = servingBackends(pool).length;
      // An empty pool is no-serving-backend's finding; don't report it twice.
      if (n === 0 || n >= params.minBackends) continue;
      hits.push({
        path: ['pools', name, 'backends'],
        message: `pool ${name} has ${n} serving backend${n === 1 ? '' : 's'} (at least ${params.minBackends}): one failure takes it down`,
      });
    }
    return hits;
  },
});
