import type { ActiveSample } from '../alerts.ts';
import { defineAlertRule } from './alert-rule.ts';
import { fmtMs, statusCommand } from './format.ts';
import { BY_POOL, PROM_CMD } from './promql.ts';

export const noTraffic = defineAlertRule({
  name: 'NoTraffic',
  severity: 'warning',
  category: 'traffic',
  labels: ['pool'],
  timing: () => ({ forMs: 0, keepFiringForMs: 0 }),
  doc: {
    activeWhen:
      'the pool once had ≥ `minRequestsPerBackend` requests in a window and has had none for a whole window',
    whatToDo: 'Check routes, DNS, and whatever sends it traffic.',
  },
  evaluate(ctx) {
    const out: ActiveSample[] = [];
    for (const p of ctx.pools) {
      if (!p.hadTraffic || p.stats.requests !== 0) continue;
      const cmd = statusCommand(p.name);
      const win = fmtMs(p.stats.windowMs);
      out.push({
        labels: { pool: p.name },
        value: 0,
        annotations: {
          summary: `pool ${p.name} had traffic and has received none for ${win}`,
          description: `Pool ${p.name} served requests earlier but none in the last ${win}. Check the routes that lead to it (config version in force: ${ctx.version}), DNS, and whatever sends it traffic. See more: ${cmd}`,
          command: cmd,
        },
      });
    }
    return out;
  },
  promql: ({ monitor, w }) => ({
    expr: `sum by (${BY_POOL}) (rate(fulcrum_requests_total[${w}])) == 0\nand sum by (${BY_POOL}) (increase(fulcrum_requests_total[1h])) >= ${monitor.fairness.minRequestsPerBackend}`,
    summary: 'pool {{ $labels.pool }} had traffic and has none',
    description: `Pool {{ $labels.pool }} served requests in the last hour but none in the last ${w}. Check the routes that lead to it and whatever sends it traffic. See more: ${PROM_CMD}`,
  }),
});
