import { defineRule } from '../types.ts';

export const noHealthChecking = defineRule({
  id: 'no-health-checking',
  severity: 'warning',
  title: 'A pool has neither an active health check nor outlier detection',
  rationale:
    'Without either, a dead backend keeps its share of requests until someone edits the config; every request sent there fails.',
  remediation:
    'Add `healthCheck` (active probes) and/or `outlierDetection` (passive ejection on errors); an outlier detector with every trigger at 0 counts as none.',
  parameters: {},
  parameterDocs: {},
  check({ config }) {
    const hits = [];
    for (const [name, pool] of Object.entries(config.pools)) {
      if (pool.healthCheck !== undefined) continue;
      const od = pool.outlierDetection;
      if (od === undefined) {
        hits.push({
          path: ['pools', name],
          message: `pool ${name} has no healthCheck and no outlierDetection: a dead backend keeps getting traffic`,
        });
      } else if (
        od.consecutiveErrors === 0 &&
        od.consecutiveLocalFailures === 0 &&
        od.successRate === undefined
      ) {
        // 0 disables a trigger: this detector can never eject, so the pool is unchecked.
        hits.push({
          path: ['pools', name, 'outlierDetection'],
          message: `pool ${name} has no healthCheck and its outlierDetection has every trigger at 0: nothing ever marks a backend down`,
        });
      }
    }
    return hits;
  },
});
