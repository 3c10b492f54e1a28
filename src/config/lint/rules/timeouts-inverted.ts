import { formatDuration } from '../../../core/units.ts';
import { defineRule } from '../types.ts';

export const timeoutsInverted = defineRule({
  id: 'timeouts-inverted',
  severity: 'warning',
  title: 'Connect timeout is not shorter than the response timeout',
  rationale:
    'Connecting is the fast part of a request; a connect timeout at or above the response timeout means a black-holed backend is only given up on after the whole request budget.',
  remediation: 'Keep `timeouts.connect` a small fraction of `timeouts.response` (e.g. 2s and 30s).',
  parameters: {},
  parameterDocs: {},
  check({ config }) {
    const hits = [];
    for (const [name, pool] of Object.entries(config.pools)) {
      const { connect, response } = pool.timeouts;
      // 0 is "disabled", which is timeout-disabled's finding.
      if (connect === 0 || response === 0 || connect < response) continue;
      hits.push({
        path: ['pools', name, 'timeouts', 'connect'],
        message: `timeouts.connect ${formatDuration(connect)} ≥ timeouts.response ${formatDuration(response)} in pool ${name}`,
      });
    }
    return hits;
  },
});
