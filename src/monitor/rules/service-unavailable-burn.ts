import { BURN_MIN_REQUESTS, BURN_WINDOWS, burnRate } from '../burn-rate.ts';
import type { ActiveSample } from '../alerts.ts';
import { defineAlertRule } from './alert-rule.ts';
import { fmtMs, pct, statusCommand, worstBackendText } from './format.ts';
import { BY_POOL, num, PROM_CMD, promDuration, promPct } from './promql.ts';

export const serviceUnavailableBurn = defineAlertRule({
  name: 'ServiceUnavailableBurn',
  severity: 'critical',
  category: 'availability',
  labels: ['pool'],
  timing: () => ({ forMs: 0, keepFiringForMs: 60_000 }),
  doc: {
    activeWhen: 'a window pair below burns the 5xx budget faster than its factor',
    whatToDo:
      'Find the failing backend (the description names the worst one) with `fulcrum status --pool P`; drain or fix it; check the last config change (`fulcrum history`).',
  },
  evaluate(ctx) {
    const out: ActiveSample[] = [];
    const target = ctx.monitor.slo.target;
    for (const p of ctx.pools) {
      const cmd = statusCommand(p.name);
      // The first pair (fastest) that burns is reported.
      for (const b of p.burn) {
        const w = b.window;
        if (b.shortTotal < BURN_MIN_REQUESTS) continue;
        const sBurn = burnRate(b.shortErrors, b.shortTotal, target);
        const lBurn = burnRate(b.longErrors, b.longTotal, target);
        if (!(sBurn > w.factor && lBurn > w.factor)) continue;
        const ratio = (sBurn * (1 - target) * 100).toFixed(1);
        out.push({
          labels: { pool: p.name },
          value: sBurn,
          annotations: {
            summary: `pool ${p.name} answers ${ratio}% 5xx, burning its error budget ${sBurn.toFixed(1)}× too fast`,
            description:
              `Pool ${p.name} (policy ${p.policy}) answered ${ratio}% of requests with 5xx over the last ` +
              `${fmtMs(w.shortMs)} and burned the ${pct(target)} SLO's budget at ${lBurn.toFixed(1)}× over ` +
              `${fmtMs(w.longMs)} (window pair ${w.name}, threshold ${w.factor}×). ${worstBackendText(p.stats)}` +
              `Config version in force: ${ctx.version}. See more: ${cmd}`,
            window: w.name,
            command: cmd,
          },
        });
        break;
      }
    }
    return out;
  },
  promql({ monitor }) {
    const budget = 1 - monitor.slo.target;
    const expr = BURN_WINDOWS.map((b, i) => {
      const t = num(b.factor * budget);
      const pair = `fulcrum:pool_error_ratio:rate${promDuration(b.longMs)} > ${t}\nand fulcrum:pool_error_ratio:rate${promDuration(b.shortMs)} > ${t}`;
      // The fast pair needs a minimum of traffic so a handful of errors does not page.
      const min =
        i === 0
          ? `\nand sum by (${BY_POOL}) (increase(fulcrum_requests_total[${promDuration(b.shortMs)}])) >= ${BURN_MIN_REQUESTS}`
          : '';
      return `(\n${pair}${min}\n)`;
    }).join('\nor\n');
    return {
      expr,
      summary: 'pool {{ $labels.pool }} burns its 5xx error budget too fast',
      description: `Pool {{ $labels.pool }} answers 5xx faster than its ${promPct(monitor.slo.target)} SLO allows (multi-window burn rate: ${BURN_WINDOWS.map((b) => `${b.name} at ${b.factor}×`).join(', ')}). See more: ${PROM_CMD}`,
    };
  },
});
