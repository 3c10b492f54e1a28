import { formatDuration } from '../../../core/units.ts';
import { defineRule } from '../types.ts';

export const checkTimeoutInterval = defineRule({
  id: 'check-timeout-interval',
  severity: 'warning',
  title: 'Health check timeout is not shorter than its interval',
  rationale:
    'A probe that may run longer than the interval overlaps the next one; a slow backend then piles up probes and its state lags.',
  remediation: 'Make `healthCheck.timeout` well below `healthCheck.interval` (e.g. timeout 1s, interval 2s).',
  parameters: {},
  parameterDocs: {},
  check({ config }) {
    const hits = [];
    for (const [name, pool] of Object.entries(config.pools)) {
      const hc = pool.healthCheck;
      if (hc === undefined || hc.timeout < hc.interval) continue;
      hits.push({
        path: ['pools', name, 'healthCheck', 'timeout'],
        message: `health check timeout ${formatDuration(hc.timeout)} ≥ interval ${formatDuration(hc.interval)} in pool ${name}`,
      });
    }
    return hits;
  },
});
