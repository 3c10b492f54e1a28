import type { ActiveSample } from '../alerts.ts';
import { defineAlertRule } from './alert-rule.ts';
import { fmtLatency, fmtMs, pct, statusCommand } from './format.ts';
import { num, PROM_CMD } from './promql.ts';

export const backendOverloaded = defineAlertRule({
  name: 'BackendOverloaded',
  severity: 'critical',
  category: 'fairness',
  labels: ['pool', 'backend'],
  timing: (m) => ({ forMs: m.fairness.for, keepFiringForMs: 30_000 }),
  doc: {
    forText: '`fairness.for`',
    activeWhen: 'overloaded (above)',
    whatToDo:
      'Fix the cause named: rebalance weights (`fulcrum diff` shows predicted shares), restore the peers, or declare `capacity`.',
  },
  evaluate(ctx) {
    const out: ActiveSample[] = [];
    for (const p of ctx.pools) {
      const stats = p.stats;
      const cmd = statusCommand(p.name);
      for (const b of stats.backends) {
        if (!b.overloaded) continue;
        const causes = p.causes[b.backend]?.overload ?? [];
        // Request shares (a load-aware pool's observedShare is in its own measure).
        const o = p.overload.find((x) => x.name === b.backend);
        const share = o?.share ?? b.observedShare;
        const load =
          o === undefined || o.overCapacity
            ? `${pct(share)} of traffic for ${pct(b.capacityShare)} of capacity`
            : o.overSlow
              ? `${pct(share)} of traffic for ${pct(o.throughputShare)} of the pool's throughput at its latency`
              : `${pct(share)} of traffic, failing and ${(o.meanLatencyMs / Math.max(1, o.peerMeanLatencyMs)).toFixed(1)}× slower than its peers`;
        out.push({
          labels: { pool: p.name, backend: b.backend },
          value: b.capacityShare > 0 ? share / b.capacityShare : 0,
          annotations: {
            summary: `backend ${b.backend} of pool ${p.name} is overloaded: ${load}, ${pct(b.errorRatio)} errors (${causes[0]?.kind ?? 'unknown'})`,
            description:
              `Backend ${b.backend} in pool ${p.name} (policy ${stats.policy}) takes ${load} over the last ` +
              `${fmtMs(stats.windowMs)} and answers ${pct(b.errorRatio)} 5xx (p99 ${fmtLatency(b.p99Ms)}) while ` +
              `its peers do better. Likely cause: ${causes.map((c) => c.text).join('; ')}. ` +
              `Config version in force: ${ctx.version}. See more: ${cmd}`,
            cause: causes[0]?.text ?? '',
            cause_kind: causes[0]?.kind ?? '',
            command: cmd,
          },
        });
      }
    }
    return out;
  },
  promql: ({ monitor, w }) => {
    const f = monitor.fairness;
    return {
      expr:
        `fulcrum:backend_observed_share:ratio_rate${w} / fulcrum:backend_capacity_share:ratio > ${num(f.overfed)}\n` +
        `and fulcrum:backend_error_ratio:rate${w} >= 0.05\n` +
        `and fulcrum:backend_error_ratio:rate${w} > 3 * fulcrum:backend_peer_error_ratio:rate${w} + 0.01\n` +
        `and fulcrum:backend_requests:increase${w} >= ${f.minRequestsPerBackend}`,
      summary:
        'backend {{ $labels.backend }} of pool {{ $labels.pool }} is overloaded: more traffic than its capacity share, and failing',
      description: `Backend {{ $labels.backend }} in pool {{ $labels.pool }} takes more than ${num(f.overfed)}× its share of capacity and answers 5xx far more than its peers. Check the weights (fulcrum_backend_weight) and the health of its peers. See more: ${PROM_CMD}`,
    };
  },
});
