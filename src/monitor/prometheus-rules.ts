// The built-in alert rules as a Prometheus rule file, for teams that alert from Prometheus
// rather than from fulcrum: recording rules for shares, share ratios and burn rates from
// fulcrum_requests_total and fulcrum_backend_effective_weight, and alerting rules with the
// same names as rules.ts. Annotations only template labels (never $value) so promtool unit
// tests can state them exactly. Differences from the in-process engine are listed in
// docs/monitoring.md (no hot-key or config-version causes, no latency outliers).
import type { MonitorConfig } from '../config/schema.ts';
import { BURN_MIN_REQUESTS, BURN_WINDOWS } from './burn-rate.ts';
import { DEFAULT_Z } from './fairness.ts';
import { DEGRADED_FRACTION } from './rules.ts';

export interface RecordingRule {
  record: string;
  expr: string;
}

export interface AlertingRule {
  alert: string;
  expr: string;
  for?: string;
  keep_firing_for?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface RuleFile {
  groups: { name: string; rules: (RecordingRule | AlertingRule)[] }[];
}

/** Prometheus duration text for milliseconds (30000 → 30s, 3600000 → 1h). */
export function promDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** A float without binary noise (14.4 × 0.001 → 0.0144). */
function num(x: number): string {
  return String(Number(x.toPrecision(10)));
}

const CMD = 'fulcrum status --pool {{ $labels.pool }}';

export function prometheusRules(m: MonitorConfig): RuleFile {
  const w = promDuration(m.window);
  const f = m.fairness;
  const budget = 1 - m.slo.target;
  // Backends with no request yet still get a 0 series, so a fully starved backend shows.
  const zeroPerBackend = 'sum by (pool, backend) (fulcrum_backend_weight) * 0';
  const windows = new Set<number>();
  for (const b of BURN_WINDOWS) windows.add(b.shortMs).add(b.longMs);
  const errorRatio = (ms: number): RecordingRule => ({
    record: `fulcrum:pool_error_ratio:rate${promDuration(ms)}`,
    expr:
      `sum by (pool) (rate(fulcrum_requests_total{code_class="5xx"}[${promDuration(ms)}]))\n` +
      `/ sum by (pool) (rate(fulcrum_requests_total[${promDuration(ms)}]))`,
  });
  const recording: RecordingRule[] = [
    {
      record: `fulcrum:backend_requests:rate${w}`,
      expr: `sum by (pool, backend) (rate(fulcrum_requests_total{backend!=""}[${w}]))\nor ${zeroPerBackend}`,
    },
    {
      record: `fulcrum:backend_requests:increase${w}`,
      expr: `sum by (pool, backend) (increase(fulcrum_requests_total{backend!=""}[${w}]))\nor ${zeroPerBackend}`,
    },
    { record: `fulcrum:pool_requests:rate${w}`, expr: `sum by (pool) (fulcrum:backend_requests:rate${w})` },
    {
      record: `fulcrum:pool_requests:increase${w}`,
      expr: `sum by (pool) (fulcrum:backend_requests:increase${w})`,
    },
    {
      record: `fulcrum:backend_errors:rate${w}`,
      expr: `sum by (pool, backend) (rate(fulcrum_requests_total{backend!="",code_class="5xx"}[${w}]))\nor ${zeroPerBackend}`,
    },
    { record: `fulcrum:pool_errors:rate${w}`, expr: `sum by (pool) (fulcrum:backend_errors:rate${w})` },
    {
      record: `fulcrum:backend_observed_share:ratio_rate${w}`,
      expr: `fulcrum:backend_requests:rate${w}\n/ on (pool) group_left fulcrum:pool_requests:rate${w}`,
    },
    {
      record: 'fulcrum:backend_expected_share:ratio',
      expr:
        'sum by (pool, backend) (fulcrum_backend_effective_weight)\n' +
        '/ on (pool) group_left sum by (pool) (fulcrum_backend_effective_weight)',
    },
    {
      record: `fulcrum:backend_share_ratio:ratio_rate${w}`,
      expr: `fulcrum:backend_observed_share:ratio_rate${w}\n/ fulcrum:backend_expected_share:ratio`,
    },
    {
      // Standard score of the observed count under the expected share (binomial).
      record: `fulcrum:backend_share_z:increase${w}`,
      expr:
        `(fulcrum:backend_requests:increase${w} - fulcrum:backend_expected_share:ratio * on (pool) group_left fulcrum:pool_requests:increase${w})\n` +
        `/ sqrt(fulcrum:backend_expected_share:ratio * (1 - fulcrum:backend_expected_share:ratio) * on (pool) group_left fulcrum:pool_requests:increase${w})`,
    },
    {
      record: `fulcrum:backend_expected_requests:increase${w}`,
      expr: `fulcrum:backend_expected_share:ratio * on (pool) group_left fulcrum:pool_requests:increase${w}`,
    },
    {
      record: 'fulcrum:backend_capacity_share:ratio',
      // Equal capacity: x ^ 0 = 1 per backend, over the number of backends in the pool.
      expr: 'sum by (pool, backend) (fulcrum_backend_weight) ^ 0\n/ on (pool) group_left count by (pool) (fulcrum_backend_weight)',
    },
    {
      record: `fulcrum:backend_error_ratio:rate${w}`,
      expr: `fulcrum:backend_errors:rate${w} / fulcrum:backend_requests:rate${w}`,
    },
    {
      record: `fulcrum:backend_peer_error_ratio:rate${w}`,
      expr:
        `(fulcrum:pool_errors:rate${w} - on (pool) group_right fulcrum:backend_errors:rate${w})\n` +
        `/ (fulcrum:pool_requests:rate${w} - on (pool) group_right fulcrum:backend_requests:rate${w})`,
    },
    ...[...windows].sort((a, b) => a - b).map(errorRatio),
  ];

  const burnExpr = BURN_WINDOWS.map((b, i) => {
    const t = num(b.factor * budget);
    const pair = `fulcrum:pool_error_ratio:rate${promDuration(b.longMs)} > ${t}\nand fulcrum:pool_error_ratio:rate${promDuration(b.shortMs)} > ${t}`;
    // The fast pair needs a minimum of traffic so a handful of errors does not page.
    const min =
      i === 0
        ? `\nand sum by (pool) (increase(fulcrum_requests_total[${promDuration(b.shortMs)}])) >= ${BURN_MIN_REQUESTS}`
        : '';
    return `(\n${pair}${min}\n)`;
  }).join('\nor\n');

  const alert = (
    name: string,
    expr: string,
    severity: string,
    summary: string,
    description: string,
    forMs?: number,
    keepMs?: number,
  ): AlertingRule => ({
    alert: name,
    expr,
    ...(forMs ? { for: promDuration(forMs) } : {}),
    ...(keepMs ? { keep_firing_for: promDuration(keepMs) } : {}),
    labels: { severity },
    annotations: { summary, description },
  });

  const alerting: AlertingRule[] = [
    alert(
      'ServiceUnavailableBurn',
      burnExpr,
      'critical',
      'pool {{ $labels.pool }} burns its 5xx error budget too fast',
      `Pool {{ $labels.pool }} answers 5xx faster than its ${pct(m.slo.target)} SLO allows (multi-window burn rate: ${BURN_WINDOWS.map((b) => `${b.name} at ${b.factor}×`).join(', ')}). See more: ${CMD}`,
      0,
      60_000,
    ),
    alert(
      'BackendDown',
      'fulcrum_backend_up == 0 unless on (pool, backend) fulcrum_backend_weight == 0',
      'warning',
      'backend {{ $labels.backend }} of pool {{ $labels.pool }} is down',
      'Backend {{ $labels.backend }} in pool {{ $labels.pool }} is unhealthy or ejected and takes no traffic. See more: ' +
        CMD,
      10_000,
    ),
    alert(
      'PoolDegraded',
      `sum by (pool) (fulcrum_backend_up) / count by (pool) (fulcrum_backend_up) < ${DEGRADED_FRACTION}`,
      'warning',
      'pool {{ $labels.pool }} runs on less than 75% of its backends',
      `Fewer than ${pct(DEGRADED_FRACTION)} of pool {{ $labels.pool }}'s backends are available; the rest carry their load. See more: ${CMD}`,
      30_000,
    ),
    alert(
      'PoolPanic',
      'fulcrum_pool_panic == 1',
      'critical',
      'pool {{ $labels.pool }} is in panic: balancing across unhealthy backends',
      `Too few of pool {{ $labels.pool }}'s backends are healthy, so it sends traffic to all of them. Fix the backends or the health check. See more: ${CMD}`,
      0,
      30_000,
    ),
    alert(
      'NoBackendAvailable',
      'sum by (pool) (increase(fulcrum_no_backend_total[1m])) > 0\nor sum by (pool) (fulcrum_backend_up) == 0',
      'critical',
      'pool {{ $labels.pool }} has no backend available: clients get 503',
      `Pool {{ $labels.pool }} answers 503 FULCRUM_ERR_PROXY_NO_BACKEND. See more: ${CMD}`,
    ),
    alert(
      'HealthFlapping',
      'changes(fulcrum_backend_up[5m]) >= 4',
      'warning',
      'backend {{ $labels.backend }} of pool {{ $labels.pool }} flaps between up and down',
      'Backend {{ $labels.backend }} in pool {{ $labels.pool }} changed state 4 or more times in 5 minutes. Check the backend and its health check. See more: ' +
        CMD,
      0,
      60_000,
    ),
    alert(
      'BackendOverfed',
      `fulcrum:backend_share_ratio:ratio_rate${w} > ${num(f.overfed)}\n` +
        `and fulcrum:backend_share_z:increase${w} > ${DEFAULT_Z}\n` +
        `and fulcrum:backend_expected_requests:increase${w} >= ${f.minRequestsPerBackend}`,
      'warning',
      'backend {{ $labels.backend }} of pool {{ $labels.pool }} gets more than its expected share',
      `Backend {{ $labels.backend }} in pool {{ $labels.pool }} gets more than ${num(f.overfed)}× the share its effective weight entitles it to over ${w}, beyond sampling noise. Likely causes: a hot hash key, hash affinity, flapping health, a bug. See more: ${CMD}`,
      f.for,
      30_000,
    ),
    alert(
      'BackendStarved',
      `fulcrum:backend_share_ratio:ratio_rate${w} < ${num(f.starved)}\n` +
        `and fulcrum:backend_share_z:increase${w} < -${DEFAULT_Z}\n` +
        `and fulcrum:backend_expected_requests:increase${w} >= ${f.minRequestsPerBackend}`,
      'warning',
      'backend {{ $labels.backend }} of pool {{ $labels.pool }} gets less than its expected share',
      `Backend {{ $labels.backend }} in pool {{ $labels.pool }} gets less than ${num(f.starved)}× the share its effective weight entitles it to over ${w}, beyond sampling noise. See more: ${CMD}`,
      f.for,
      30_000,
    ),
    alert(
      'BackendOverloaded',
      `fulcrum:backend_observed_share:ratio_rate${w} / fulcrum:backend_capacity_share:ratio > ${num(f.overfed)}\n` +
        `and fulcrum:backend_error_ratio:rate${w} >= 0.05\n` +
        `and fulcrum:backend_error_ratio:rate${w} > 3 * fulcrum:backend_peer_error_ratio:rate${w} + 0.01\n` +
        `and fulcrum:backend_requests:increase${w} >= ${f.minRequestsPerBackend}`,
      'critical',
      'backend {{ $labels.backend }} of pool {{ $labels.pool }} is overloaded: more traffic than its capacity share, and failing',
      `Backend {{ $labels.backend }} in pool {{ $labels.pool }} takes more than ${num(f.overfed)}× its share of capacity and answers 5xx far more than its peers. Check the weights (fulcrum_backend_weight) and the health of its peers. See more: ${CMD}`,
      f.for,
      30_000,
    ),
    alert(
      'ConfigApplyFailed',
      'fulcrum_config_last_apply_success == 0',
      'warning',
      'the last config apply failed; the previous version is still running',
      'The last config apply failed and the running config was kept. Run `fulcrum validate` and `fulcrum lint` on the file, then apply again; `fulcrum history` lists versions.',
    ),
    alert(
      'NoTraffic',
      `sum by (pool) (rate(fulcrum_requests_total[${w}])) == 0\nand sum by (pool) (increase(fulcrum_requests_total[1h])) >= ${f.minRequestsPerBackend}`,
      'warning',
      'pool {{ $labels.pool }} had traffic and has none',
      `Pool {{ $labels.pool }} served requests in the last hour but none in the last ${w}. Check the routes that lead to it and whatever sends it traffic. See more: ${CMD}`,
    ),
    alert(
      'AuditFailing',
      'sum(increase(fulcrum_audit_runs_total{result="failure"}[30m])) > 0\nunless sum(increase(fulcrum_audit_runs_total{result="success"}[30m])) > 0',
      'warning',
      'scheduled audits find problems',
      'The last scheduled audits failed. Run `fulcrum audit` to see the findings.',
    ),
    alert(
      'AuditsNotRunning',
      '(fulcrum_audit_last_success_timestamp_seconds > 0 and time() - fulcrum_audit_last_success_timestamp_seconds > 2100)\n' +
        'or (fulcrum_audit_last_success_timestamp_seconds == 0 and time() - process_start_time_seconds > 2100)',
      'warning',
      'no successful audit for more than 35 minutes',
      'No scheduled audit passed for two periods of the default schedule (*/15 * * * *) plus slack. Check the audit scheduler logs and run `fulcrum audit`.',
    ),
  ];
  return {
    groups: [
      { name: 'fulcrum-recording', rules: recording },
      { name: 'fulcrum-alerts', rules: alerting },
    ],
  };
}

function pct(f: number): string {
  return `${Number((f * 100).toPrecision(6))}%`;
}
