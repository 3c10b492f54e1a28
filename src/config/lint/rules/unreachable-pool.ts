import { defineRule } from '../types.ts';

export const unreachablePool = defineRule({
  id: 'unreachable-pool',
  severity: 'warning',
  title: 'No route sends traffic to a pool',
  rationale:
    'A pool no route reaches is still health-checked and shown as serving, yet takes no traffic: usually a typo in a route or a forgotten cut-over.',
  remediation: 'Add a route to the pool, fix the route that should name it, or delete the pool.',
  parameters: {},
  parameterDocs: {},
  check({ config }) {
    const routed = new Set<string>();
    for (const listener of Object.values(config.listeners)) {
      for (const route of listener.routes) routed.add(route.pool);
    }
    const hits = [];
    for (const name of Object.keys(config.pools)) {
      if (!routed.has(name)) {
        hits.push({
          path: ['pools', name],
          message: `no route of any listener sends traffic to pool ${name}`,
        });
      }
    }
    return hits;
  },
});
