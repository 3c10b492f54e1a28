import { defineRule } from '../types.ts';

export const noHealthChecking = defineRule({
  id: 'no-health-checking',
  severity: 'warning',
  title: 'A pool has neither an active health check nor outlier detection',
  rationale:
    'Without either, a dead backend keeps its share of requests until someone edits the config; every request sent there fails.',
  remediation: 'Add `healthCheck` (active probes) and/or `outlierDetection` (passive ejection on errors).',
  parameters: {},
  parameterDocs: {},
  check({ config }) {
    const hits = [];
    for (const [name, pool] of Object.entries(config.pools)) {
      if (pool.healthCheck === undefined && pool.outlierDetection === undefined) {
        hits.push({
          path: ['pools', name],
          message: `pool ${name} has no healthCheck and no outlierDetection: a dead backend keeps getting traffic`,
        });
      }
    }
    return hits;
  },
});
