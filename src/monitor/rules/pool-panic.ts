import type { ActiveSample } from '../alerts.ts';
import { defineAlertRule } from './alert-rule.ts';
import { pct, statusCommand } from './format.ts';
import { PROM_CMD } from './promql.ts';

export const poolPanic = defineAlertRule({
  name: 'PoolPanic',
  severity: 'critical',
  category: 'availability',
  labels: ['pool'],
  timing: () => ({ forMs: 0, keepFiringForMs: 30_000 }),
  doc: {
    activeWhen:
      'the pool is in panic (available fraction below `panicThreshold`): traffic goes to unhealthy backends too',
    whatToDo: 'Fix the backends, or the health check if it is wrong about them.',
  },
  evaluate(ctx) {
    const out: ActiveSample[] = [];
    for (const p of ctx.pools) {
      if (!p.panic) continue;
      const weighted = p.hosts.filter((h) => h.configuredWeight > 0 && !h.drain);
      const available = weighted.filter((h) => h.available).length;
      const cmd = statusCommand(p.name);
      out.push({
        labels: { pool: p.name },
        value: 1,
        annotations: {
          summary: `pool ${p.name} is in panic: balancing across unhealthy backends`,
          description: `Fewer than ${pct(p.panicThreshold)} of pool ${p.name}'s backends are healthy (${available} of ${weighted.length}), so it sends traffic to all of them, unhealthy ones included. Fix the backends or the health check. See more: ${cmd}`,
          command: cmd,
        },
      });
    }
    return out;
  },
  promql: () => ({
    expr: 'fulcrum_pool_panic == 1',
    summary: 'pool {{ $labels.pool }} is in panic: balancing across unhealthy backends',
    description: `Too few of pool {{ $labels.pool }}'s backends are healthy, so it sends traffic to all of them. Fix the backends or the health check. See more: ${PROM_CMD}`,
  }),
});
