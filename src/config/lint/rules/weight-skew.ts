import { defineRule } from '../types.ts';
import { policyUsesWeights, ratio, servingBackends } from '../pool-facts.ts';

export const weightSkew = defineRule({
  id: 'weight-skew',
  severity: 'error',
  title: 'A backend is weighted far above its peers',
  rationale:
    'One backend weighted far above its peers receives most of the traffic and is the first to overload; ' +
    'this is the misconfiguration behind the postmortem (30% of users got 503 for four hours). ' +
    'Weights are compared per unit of declared `capacity` (1 when not declared), and by default against the ' +
    'pool’s median, so a deliberately light canary is not flagged; `compareTo: min` compares with the lightest instead.',
  remediation:
    'Bring the weights within the ratio; if a backend really is bigger, declare its `capacity` so its weight is judged against it.',
  parameters: { maxRatio: 3, compareTo: 'median' },
  parameterDocs: {
    maxRatio: 'largest allowed ratio of the heaviest weight ÷ capacity to the reference backend’s',
    compareTo: '`median` (the pool’s lower-median backend) or `min` (the lightest backend)',
  },
  check({ config, params }) {
    const hits = [];
    for (const [name, pool] of Object.entries(config.pools)) {
      const serving = servingBackends(pool);
      if (serving.length < 2) continue;
      const load = (b: (typeof serving)[number]) => b.backend.weight / (b.backend.capacity ?? 1);
      const sorted = [...serving].sort((a, b) => load(a) - load(b));
      const hi = sorted[sorted.length - 1]!;
      // The lower median: with two backends it is the lighter one, as it should be.
      const ref = params.compareTo === 'min' ? sorted[0]! : sorted[Math.floor((sorted.length - 1) / 2)]!;
      const r = load(hi) / load(ref);
      if (r <= params.maxRatio) continue;
      const share = hi.backend.weight / serving.reduce((sum, s) => sum + s.backend.weight, 0);
      const describe = (s: typeof hi) =>
        `${s.backend.name} weight ${s.backend.weight}` +
        (s.backend.capacity === undefined ? '' : ` (capacity ${s.backend.capacity})`);
      const note = policyUsesWeights(pool.policy)
        ? ''
        : ` (ignored today by ${pool.policy}, but it is the configured intent)`;
      const perCapacity = serving.some((s) => s.backend.capacity !== undefined)
        ? ' per unit of capacity'
        : '';
      hits.push({
        path: ['pools', name, 'backends', hi.index, 'weight'],
        message:
          `${describe(hi)} is ${ratio(r)}× ${describe(ref)}${perCapacity} (max ${params.maxRatio}×); ` +
          `${hi.backend.name} would take ${Math.round(share * 100)}% of pool ${name}${note}`,
      });
    }
    return hits;
  },
});
