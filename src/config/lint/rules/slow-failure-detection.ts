import { formatDuration } from '../../../core/units.ts';
import { defineRule } from '../types.ts';

export const slowFailureDetection = defineRule({
  id: 'slow-failure-detection',
  severity: 'warning',
  title: 'Active health checks take too long to mark a dead backend down',
  rationale:
    'Worst case, a backend that dies keeps its share for interval × unhealthyThreshold + timeout; every request sent in that time fails.',
  remediation:
    'Shorten `healthCheck.interval`, lower `unhealthyThreshold`, or add `outlierDetection` to react on live errors.',
  parameters: { maxDetectionMs: 30_000 },
  parameterDocs: { maxDetectionMs: 'longest acceptable worst-case detection time, in milliseconds' },
  check({ config, params }) {
    const hits = [];
    for (const [name, pool] of Object.entries(config.pools)) {
      const hc = pool.healthCheck;
      if (hc === undefined) continue;
      const detect = hc.interval * hc.unhealthyThreshold + hc.timeout;
      if (detect <= params.maxDetectionMs) continue;
      hits.push({
        path: ['pools', name, 'healthCheck'],
        message:
          `pool ${name} needs up to ${formatDuration(detect)} to mark a dead backend down ` +
          `(${formatDuration(hc.interval)} × ${hc.unhealthyThreshold} + ${formatDuration(hc.timeout)}; max ${formatDuration(params.maxDetectionMs)})`,
      });
    }
    return hits;
  },
});
