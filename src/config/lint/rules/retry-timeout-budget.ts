import { formatDuration } from '../../../core/units.ts';
import { defineRule } from '../types.ts';

export const retryTimeoutBudget = defineRule({
  id: 'retry-timeout-budget',
  severity: 'warning',
  title: 'The response timeout is shorter than per-try timeout × tries',
  rationale:
    'When every try may use the whole per-try timeout, the overall response timeout expires before the last retry can finish: the retries configured never get their chance.',
  remediation:
    'Make `timeouts.response` ≥ `retries.perTryTimeout` × (`retries.attempts` + 1), or lower perTryTimeout.',
  parameters: {},
  parameterDocs: {},
  check({ config }) {
    const hits = [];
    for (const [name, pool] of Object.entries(config.pools)) {
      const { attempts, perTryTimeout } = pool.retries;
      const response = pool.timeouts.response;
      // perTryTimeout 0 = each try may use the whole response timeout; response 0 = unbounded.
      if (attempts === 0 || perTryTimeout === 0 || response === 0) continue;
      const needed = perTryTimeout * (attempts + 1);
      if (response >= needed) continue;
      hits.push({
        path: ['pools', name, 'timeouts', 'response'],
        message:
          `timeouts.response ${formatDuration(response)} < perTryTimeout ${formatDuration(perTryTimeout)} × ${attempts + 1} tries ` +
          `(${formatDuration(needed)}) in pool ${name}: the last retries are cut off`,
      });
    }
    return hits;
  },
});
