import { defineRule } from '../types.ts';

export const retryWithoutBudget = defineRule({
  id: 'retry-without-budget',
  severity: 'warning',
  title: 'Retries are enabled without a retry budget',
  rationale:
    'Without a budget, a failing pool receives (attempts + 1)× its load exactly when it can least take it: a retry storm that turns a partial outage into a full one.',
  remediation: 'Set `retries.budget` (e.g. 20%) so only a fraction of active requests may be retries.',
  parameters: {},
  parameterDocs: {},
  check({ config }) {
    const hits = [];
    for (const [name, pool] of Object.entries(config.pools)) {
      const r = pool.retries;
      if (r.attempts === 0 || r.budget > 0) continue;
      hits.push({
        path: ['pools', name, 'retries', 'budget'],
        message: `pool ${name} retries up to ${r.attempts}× with budget 0%: an outage multiplies its load by ${r.attempts + 1}`,
      });
    }
    return hits;
  },
});
