import { defineRule } from '../types.ts';
import { policyDescriptor } from '../../../balancer/registry.ts';

export const hashUnboundedLoad = defineRule({
  id: 'hash-unbounded-load',
  severity: 'warning',
  title: 'Consistent hashing with a loose load bound',
  rationale:
    'Consistent hashing sends every request of a key to the same backend; a hot key (a big tenant, a crawler) then overloads it. ' +
    'Bounded load (`balanceFactor`) caps each backend at factor × the average; above 2 the cap hardly binds.',
  remediation: 'Set `hash.balanceFactor` between 1.1 and 2 (1.25 is a good start).',
  parameters: { maxBalanceFactor: 2 },
  parameterDocs: { maxBalanceFactor: 'largest acceptable `hash.balanceFactor`' },
  check({ config, params }) {
    const hits = [];
    for (const [name, pool] of Object.entries(config.pools)) {
      if (!policyDescriptor(pool.policy).hashKeyed) continue;
      const f = pool.hash.balanceFactor;
      if (f <= params.maxBalanceFactor) continue;
      hits.push({
        path: ['pools', name, 'hash', 'balanceFactor'],
        message: `hash.balanceFactor ${f} in pool ${name} lets one backend take ${f}× the average load (max ${params.maxBalanceFactor})`,
      });
    }
    return hits;
  },
});
