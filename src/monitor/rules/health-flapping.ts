import type { ActiveSample } from '../alerts.ts';
import { defineAlertRule } from './alert-rule.ts';
import { fmtMs, statusCommand } from './format.ts';
import { PROM_CMD } from './promql.ts';

export const healthFlapping = defineAlertRule({
  name: 'HealthFlapping',
  severity: 'warning',
  category: 'health',
  labels: ['pool', 'backend'],
  timing: () => ({ forMs: 0, keepFiringForMs: 60_000 }),
  doc: {
    activeWhen: '≥ `flapDampening.flips` state changes within `flapDampening.window`',
    whatToDo: "Check the backend and the check's timeout and thresholds.",
  },
  evaluate(ctx) {
    const out: ActiveSample[] = [];
    for (const p of ctx.pools) {
      const win = p.flapDampening.window;
      for (const h of p.hosts) {
        if (h.flips < p.flapDampening.flips) continue;
        const cmd = statusCommand(p.name);
        out.push({
          labels: { pool: p.name, backend: h.name },
          value: h.flips,
          annotations: {
            summary: `backend ${h.name} of pool ${p.name} changed health ${h.flips} times in ${fmtMs(win)}`,
            description: `Backend ${h.name} (${h.address}) flips between states (now ${h.status}); its traffic share swings with it. Check the backend and the health check (path, timeout, thresholds). See more: ${cmd}`,
            command: cmd,
          },
        });
      }
    }
    return out;
  },
  promql: () => ({
    expr: 'changes(fulcrum_backend_up[5m]) >= 4',
    summary: 'backend {{ $labels.backend }} of pool {{ $labels.pool }} flaps between up and down',
    description:
      'Backend {{ $labels.backend }} in pool {{ $labels.pool }} changed state 4 or more times in 5 minutes. Check the backend and its health check. See more: ' +
      PROM_CMD,
  }),
});
