import type { ActiveSample } from '../alerts.ts';
import { defineAlertRule } from './alert-rule.ts';
import { pct, statusCommand } from './format.ts';
import { BY_POOL, PROM_CMD } from './promql.ts';

/** Below this fraction of its weighted backends available, a pool is degraded. */
export const DEGRADED_FRACTION = 0.75;

export const poolDegraded = defineAlertRule({
  name: 'PoolDegraded',
  severity: 'warning',
  category: 'availability',
  labels: ['pool'],
  timing: () => ({ forMs: 30_000, keepFiringForMs: 0 }),
  doc: {
    activeWhen: `fewer than ${DEGRADED_FRACTION * 100} % of the pool's weighted backends are available`,
    whatToDo: 'The remaining backends carry the load: restore capacity before they overload.',
  },
  evaluate(ctx) {
    const out: ActiveSample[] = [];
    for (const p of ctx.pools) {
      const weighted = p.hosts.filter((h) => h.configuredWeight > 0 && !h.drain);
      const available = weighted.filter((h) => h.available);
      if (weighted.length === 0 || available.length / weighted.length >= DEGRADED_FRACTION) continue;
      const cmd = statusCommand(p.name);
      out.push({
        labels: { pool: p.name },
        value: available.length / weighted.length,
        annotations: {
          summary: `pool ${p.name} has ${available.length} of ${weighted.length} backends available`,
          description: `Pool ${p.name} runs on ${available.length} of ${weighted.length} backends (${weighted
            .filter((h) => !h.available)
            .map((h) => `${h.name} ${h.status}`)
            .join(
              ', ',
            )}); the rest carry their load. Config version in force: ${ctx.version}. See more: ${cmd}`,
          command: cmd,
        },
      });
    }
    return out;
  },
  promql: () => ({
    expr: `sum by (${BY_POOL}) (fulcrum_backend_up) / count by (${BY_POOL}) (fulcrum_backend_up) < ${DEGRADED_FRACTION}`,
    summary: 'pool {{ $labels.pool }} runs on less than 75% of its backends',
    description: `Fewer than ${pct(DEGRADED_FRACTION)} of pool {{ $labels.pool }}'s backends are available; the rest carry their load. See more: ${PROM_CMD}`,
  }),
});
