import { DEFAULT_Z } from '../fairness.ts';
import { defineAlertRule } from './alert-rule.ts';
import { num, PROM_CMD } from './promql.ts';
import { shareVerdictSamples } from './share-verdict.ts';

export const backendOverfed = defineAlertRule({
  name: 'BackendOverfed',
  severity: 'warning',
  category: 'fairness',
  labels: ['pool', 'backend'],
  timing: (m) => ({ forMs: m.fairness.for, keepFiringForMs: 30_000 }),
  doc: {
    forText: '`fairness.for`',
    activeWhen: 'verdict overfed (above)',
    whatToDo:
      'Read the cause: retries away from a failed peer (fix or drain the peer), panic, a hot key (rate-limit or re-key it), affinity, flapping. `fulcrum status --pool P`.',
  },
  evaluate: (ctx) => shareVerdictSamples(ctx, 'overfed'),
  promql: ({ monitor, w }) => {
    const f = monitor.fairness;
    return {
      expr:
        `fulcrum:backend_share_ratio:ratio_rate${w} > ${num(f.overfed)}\n` +
        `and fulcrum:backend_share_z:increase${w} > ${DEFAULT_Z}\n` +
        `and fulcrum:backend_expected_requests:increase${w} >= ${f.minRequestsPerBackend}`,
      summary: 'backend {{ $labels.backend }} of pool {{ $labels.pool }} gets more than its expected share',
      description: `Backend {{ $labels.backend }} in pool {{ $labels.pool }} gets more than ${num(f.overfed)}× the share its effective weight entitles it to over ${w}, beyond sampling noise. Likely causes: retries away from a failed peer, a hot hash key, hash affinity, flapping health. See more: ${PROM_CMD}`,
    };
  },
});
