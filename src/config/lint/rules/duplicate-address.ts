import { defineRule } from '../types.ts';

export const duplicateAddress = defineRule({
  id: 'duplicate-address',
  severity: 'warning',
  title: 'The same address under two backend names in different pools',
  rationale:
    'One server under two names splits its health, ejection and share metrics, so nobody sees its total load. ' +
    '(The same address twice within one pool is already a validation error.)',
  remediation: 'Use the same backend name for the same address in every pool.',
  parameters: {},
  parameterDocs: {},
  check({ config }) {
    const hits = [];
    // address → the first (pool, name) it was seen under
    const seen = new Map<string, { pool: string; name: string }>();
    for (const [poolName, pool] of Object.entries(config.pools)) {
      for (const [i, b] of pool.backends.entries()) {
        const key = b.address.toLowerCase();
        const first = seen.get(key);
        if (first === undefined) {
          seen.set(key, { pool: poolName, name: b.name });
        } else if (first.pool !== poolName && first.name !== b.name) {
          hits.push({
            path: ['pools', poolName, 'backends', i, 'name'],
            message: `${b.address} is ${b.name} in pool ${poolName} but ${first.name} in pool ${first.pool}`,
          });
        }
      }
    }
    return hits;
  },
});
