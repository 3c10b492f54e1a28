import type { ActiveSample } from '../alerts.ts';
import { isOut } from '../pool-stats.ts';
import { defineAlertRule } from './alert-rule.ts';
import { statusCommand } from './format.ts';
import { BY_BACKEND, PROM_CMD } from './promql.ts';

export const backendDown = defineAlertRule({
  name: 'BackendDown',
  severity: 'warning',
  category: 'health',
  labels: ['pool', 'backend'],
  timing: () => ({ forMs: 10_000, keepFiringForMs: 0 }),
  doc: {
    activeWhen: 'the backend is `unhealthy` or `ejected` (not when draining)',
    whatToDo: 'Check the backend and its health check (`fulcrum status`).',
  },
  evaluate(ctx) {
    const out: ActiveSample[] = [];
    for (const p of ctx.pools) {
      const weighted = p.hosts.filter((h) => h.configuredWeight > 0 && !h.drain);
      const available = weighted.filter((h) => h.available).length;
      for (const h of p.hosts) {
        if (h.drain || !isOut(h.status)) continue;
        out.push({
          labels: { pool: p.name, backend: h.name },
          value: 1,
          annotations: {
            summary: `backend ${h.name} of pool ${p.name} is ${h.status}`,
            description: `Backend ${h.name} (${h.address}) in pool ${p.name} is ${h.status} and takes no traffic; ${available} of ${weighted.length} backends remain available. Config version in force: ${ctx.version}. See more: ${statusCommand(p.name)}`,
            command: statusCommand(p.name),
          },
        });
      }
    }
    return out;
  },
  promql: () => ({
    expr: `fulcrum_backend_up == 0 unless on (${BY_BACKEND}) fulcrum_backend_weight == 0`,
    summary: 'backend {{ $labels.backend }} of pool {{ $labels.pool }} is down',
    description:
      'Backend {{ $labels.backend }} in pool {{ $labels.pool }} is unhealthy or ejected and takes no traffic. See more: ' +
      PROM_CMD,
  }),
});
