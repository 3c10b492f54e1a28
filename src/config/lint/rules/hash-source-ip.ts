import { defineRule } from '../types.ts';
import { policyDescriptor } from '../../../balancer/registry.ts';

export const hashSourceIp = defineRule({
  id: 'hash-source-ip',
  severity: 'info',
  title: 'Consistent hashing on the client IP',
  rationale:
    'Behind a CDN, NAT or another proxy, many users share a few source IPs; hashing on them concentrates traffic on a few backends.',
  remediation:
    'Hash on a user or session identifier instead: `hash.key: header:x-user-id` or `cookie:session`.',
  parameters: {},
  parameterDocs: {},
  check({ config, isExplicit }) {
    const hits = [];
    for (const [name, pool] of Object.entries(config.pools)) {
      if (!policyDescriptor(pool.policy).hashKeyed || pool.hash.key !== 'source-ip') continue;
      const explicit = isExplicit(['pools', name, 'hash', 'key']);
      hits.push({
        path: explicit ? ['pools', name, 'hash', 'key'] : ['pools', name, 'policy'],
        message: `pool ${name} hashes on source-ip${explicit ? '' : ' (the default)'}: behind a proxy or NAT few IPs carry many users`,
      });
    }
    return hits;
  },
});
