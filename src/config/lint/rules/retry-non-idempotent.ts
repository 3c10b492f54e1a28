import { defineRule } from '../types.ts';

export const retryNonIdempotent = defineRule({
  id: 'retry-non-idempotent',
  severity: 'warning',
  title: 'Retries are allowed for non-idempotent methods',
  rationale:
    'A POST or PATCH retried after the backend received it (reset, timeout, 5xx) may run twice: a double charge, a duplicate order. ' +
    'Retrying only on connect-failure is safe, because the request never reached the backend.',
  remediation:
    'Remove POST and PATCH from `retries.methods`, or restrict `retries.on` to `connect-failure`, or make the endpoint idempotent (idempotency keys) first.',
  parameters: { nonIdempotent: ['POST', 'PATCH'] },
  parameterDocs: { nonIdempotent: 'methods that must not be retried once sent' },
  check({ config, params }) {
    const hits = [];
    for (const [name, pool] of Object.entries(config.pools)) {
      const r = pool.retries;
      if (r.attempts === 0 || r.on.every((on) => on === 'connect-failure')) continue;
      for (const [i, method] of r.methods.entries()) {
        if (!params.nonIdempotent.includes(method)) continue;
        hits.push({
          path: ['pools', name, 'retries', 'methods', i],
          message: `${method} may be retried in pool ${name} on ${r.on.filter((o) => o !== 'connect-failure').join(', ')}: the backend may run it twice`,
        });
      }
    }
    return hits;
  },
});
