import { defineRule } from '../types.ts';

export const timeoutDisabled = defineRule({
  id: 'timeout-disabled',
  severity: 'warning',
  title: 'An upstream connect or response timeout is 0 (disabled)',
  rationale:
    'Without a timeout a hung backend holds the client and an upstream socket forever; requests queue behind it until `maxRequests` is hit and the pool returns 503.',
  remediation: 'Set `timeouts.connect` (e.g. 2s) and `timeouts.response` (e.g. 30s) to finite values.',
  parameters: {},
  parameterDocs: {},
  check({ config }) {
    const hits = [];
    for (const [name, pool] of Object.entries(config.pools)) {
      for (const key of ['connect', 'response'] as const) {
        if (pool.timeouts[key] === 0) {
          hits.push({
            path: ['pools', name, 'timeouts', key],
            message: `timeouts.${key} is 0 in pool ${name}: a hung backend is waited on forever`,
          });
        }
      }
    }
    return hits;
  },
});
