import { defineRule } from '../types.ts';

export const retryTimeoutUnreachable = defineRule({
  id: 'retry-timeout-unreachable',
  severity: 'warning',
  title: 'Retry on timeout without a per-try timeout',
  rationale:
    'With `perTryTimeout: 0` the first try may use the whole response timeout, so when it times out there is no time left: ' +
    '`on: [timeout]` never retries anything, and the config promises a resilience it does not have.',
  remediation:
    'Set `retries.perTryTimeout` to a fraction of `timeouts.response` (e.g. 5s of 30s), or drop `timeout` from `retries.on`.',
  parameters: {},
  parameterDocs: {},
  check({ config }) {
    const hits = [];
    for (const [name, pool] of Object.entries(config.pools)) {
      const r = pool.retries;
      const at = r.on.indexOf('timeout');
      if (r.attempts === 0 || at < 0 || r.perTryTimeout > 0) continue;
      hits.push({
        path: ['pools', name, 'retries', 'on', at],
        message: `pool ${name} retries on timeout but has no perTryTimeout: the first try uses the whole response timeout, leaving none for a retry`,
      });
    }
    return hits;
  },
});
