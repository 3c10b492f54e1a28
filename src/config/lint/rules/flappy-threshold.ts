import { defineRule } from '../types.ts';

export const flappyThreshold = defineRule({
  id: 'flappy-threshold',
  severity: 'warning',
  title: 'A health threshold of 1 lets one probe flip a backend',
  rationale:
    'With a threshold of 1 a single lost packet or slow GC pause marks a backend down (or a half-dead one up): the pool flaps and shares swing.',
  remediation: 'Use at least 2 for `healthyThreshold`, 3 for `unhealthyThreshold` and `consecutiveErrors`.',
  parameters: {},
  parameterDocs: {},
  check({ config }) {
    const hits = [];
    for (const [name, pool] of Object.entries(config.pools)) {
      const hc = pool.healthCheck;
      if (hc !== undefined) {
        for (const key of ['healthyThreshold', 'unhealthyThreshold'] as const) {
          if (hc[key] === 1) {
            hits.push({
              path: ['pools', name, 'healthCheck', key],
              message: `${key} is 1 in pool ${name}: one probe result flips a backend`,
            });
          }
        }
      }
      const od = pool.outlierDetection;
      if (od !== undefined) {
        for (const key of ['consecutiveErrors', 'consecutiveLocalFailures'] as const) {
          if (od[key] === 1) {
            hits.push({
              path: ['pools', name, 'outlierDetection', key],
              message: `${key} is 1 in pool ${name}: one failed request ejects a backend`,
            });
          }
        }
      }
    }
    return hits;
  },
});
