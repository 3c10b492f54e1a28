import type { ActiveSample } from '../alerts.ts';
import { defineAlertRule } from './alert-rule.ts';
import { fmtMs, statusCommand } from './format.ts';
import { BY_POOL, PROM_CMD } from './promql.ts';

/** No-backend answers within this span keep NoBackendAvailable active. */
export const NO_BACKEND_SPAN_MS = 10_000;

// Only answers that found no backend to pick count (FULCRUM_ERR_PROXY_NO_BACKEND): a 502
// after a connect failure reached a backend that was picked, which BackendDown names.
export const noBackendAvailable = defineAlertRule({
  name: 'NoBackendAvailable',
  severity: 'critical',
  category: 'availability',
  labels: ['pool'],
  timing: () => ({ forMs: 0, keepFiringForMs: 0 }),
  doc: {
    activeWhen:
      'the pool has no candidate, or answered 503 `NO_BACKEND` (no backend could be picked) in the last 10 s; connect failures do not count',
    whatToDo: 'Clients get 503. Bring a backend back or roll back (`fulcrum rollback`).',
  },
  evaluate(ctx) {
    const out: ActiveSample[] = [];
    for (const p of ctx.pools) {
      const weighted = p.hosts.filter((h) => h.configuredWeight > 0 && !h.drain);
      if (!((weighted.length > 0 && p.candidates === 0) || p.noBackend > 0)) continue;
      const available = weighted.filter((h) => h.available).length;
      const cmd = statusCommand(p.name);
      out.push({
        labels: { pool: p.name },
        value: p.noBackend,
        annotations: {
          summary: `pool ${p.name} has no backend available: clients get 503`,
          description: `Pool ${p.name} answered ${p.noBackend} request(s) with 503 FULCRUM_ERR_PROXY_NO_BACKEND in the last ${fmtMs(NO_BACKEND_SPAN_MS)}; ${available} of ${weighted.length} backends are available. Config version in force: ${ctx.version}. See more: ${cmd}`,
          command: cmd,
        },
      });
    }
    return out;
  },
  promql: () => ({
    expr: `sum by (${BY_POOL}) (increase(fulcrum_no_backend_total[1m])) > 0\nor sum by (${BY_POOL}) (fulcrum_backend_up) == 0`,
    summary: 'pool {{ $labels.pool }} has no backend available: clients get 503',
    description: `Pool {{ $labels.pool }} answers 503 FULCRUM_ERR_PROXY_NO_BACKEND. See more: ${PROM_CMD}`,
  }),
});
