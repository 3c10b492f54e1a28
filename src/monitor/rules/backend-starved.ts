import { DEFAULT_Z } from '../fairness.ts';
import { defineAlertRule } from './alert-rule.ts';
import { num, PROM_CMD } from './promql.ts';
import { shareVerdictSamples } from './share-verdict.ts';

export const backendStarved = defineAlertRule({
  name: 'BackendStarved',
  severity: 'warning',
  category: 'fairness',
  labels: ['pool', 'backend'],
  timing: (m) => ({ forMs: m.fairness.for, keepFiringForMs: 30_000 }),
  doc: {
    forText: '`fairness.for`',
    activeWhen: 'verdict starved',
    whatToDo: 'Same; a starved backend often means a peer is overfed.',
  },
  evaluate: (ctx) => shareVerdictSamples(ctx, 'starved'),
  promql: ({ monitor, w }) => {
    const f = monitor.fairness;
    return {
      expr:
        `fulcrum:backend_share_ratio:ratio_rate${w} < ${num(f.starved)}\n` +
        `and fulcrum:backend_share_z:increase${w} < -${DEFAULT_Z}\n` +
        `and fulcrum:backend_expected_requests:increase${w} >= ${f.minRequestsPerBackend}`,
      summary: 'backend {{ $labels.backend }} of pool {{ $labels.pool }} gets less than its expected share',
      description: `Backend {{ $labels.backend }} in pool {{ $labels.pool }} gets less than ${num(f.starved)}× the share its effective weight entitles it to over ${w}, beyond sampling noise. See more: ${PROM_CMD}`,
    };
  },
});
