import { defineRule } from '../types.ts';
import { pct, servingBackends } from '../pool-facts.ts';

export const ejectionLimit = defineRule({
  id: 'ejection-limit',
  severity: 'warning',
  title: 'Outlier detection cannot eject anything with this pool size',
  rationale:
    'maxEjectionPercent × backends < 1 means not even one backend may be ejected; success-rate detection needs `minHosts` backends. ' +
    'The detector is configured, but inert.',
  remediation:
    'Raise `outlierDetection.maxEjectionPercent` to at least 1 / backends, or lower `successRate.minHosts`.',
  parameters: {},
  parameterDocs: {},
  check({ config }) {
    const hits = [];
    for (const [name, pool] of Object.entries(config.pools)) {
      const od = pool.outlierDetection;
      const n = servingBackends(pool).length;
      // With one backend there is nothing to eject to; that is single-backend's finding.
      if (od === undefined || n < 2) continue;
      // The epsilon keeps float noise from turning an exact 1 (10% of 10) into 0.999….
      if (od.maxEjectionPercent * n < 1 - 1e-9) {
        hits.push({
          path: ['pools', name, 'outlierDetection', 'maxEjectionPercent'],
          message: `maxEjectionPercent ${pct(od.maxEjectionPercent)} of ${n} backends is less than one: pool ${name} can never eject a backend`,
        });
      }
      if (od.successRate !== undefined && od.successRate.minHosts > n) {
        hits.push({
          path: ['pools', name, 'outlierDetection', 'successRate', 'minHosts'],
          message: `successRate.minHosts ${od.successRate.minHosts} > ${n} backends in pool ${name}: success-rate ejection never runs`,
        });
      }
    }
    return hits;
  },
});
