import { defineRule } from '../types.ts';

export const zeroWeight = defineRule({
  id: 'zero-weight',
  severity: 'warning',
  title: 'A backend has weight 0 but is not drained',
  rationale:
    'Weight 0 silently removes a backend from rotation while dashboards still list it as serving; ' +
    'the intent (drain for maintenance, or a typo) is invisible to the next reader.',
  remediation: 'Set `drain: true` to take the backend out on purpose, or give it a positive weight.',
  parameters: {},
  parameterDocs: {},
  check({ config }) {
    const hits = [];
    for (const [name, pool] of Object.entries(config.pools)) {
      for (const [i, b] of pool.backends.entries()) {
        if (b.weight === 0 && !b.drain) {
          hits.push({
            path: ['pools', name, 'backends', i, 'weight'],
            message: `${b.name} has weight 0 and is not drained: it takes no traffic without saying so`,
          });
        }
      }
    }
    return hits;
  },
});
