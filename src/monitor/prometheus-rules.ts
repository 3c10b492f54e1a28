// The built-in alert rules as a Prometheus rule file, for teams that alert from Prometheus
// rather than from fulcrum: recording rules for shares, share ratios and burn rates from
// fulcrum_requests_total and fulcrum_backend_effective_weight, and each catalog rule's own
// PromQL (rules/*.ts) as an alerting rule of the same name. Annotations only template labels
// (never $value) so promtool unit tests can state them exactly. Every aggregation keeps
// `instance` and `job`: two balancers with a pool of the same name are judged apart.
// Differences from the in-process engine are listed in docs/monitoring.md.
import type { MonitorConfig } from '../config/schema.ts';
import { BURN_WINDOWS } from './burn-rate.ts';
import { ALERT_RULES } from './rules/catalog.ts';
import {
  BY_BACKEND,
  BY_POOL,
  promDuration,
  type AlertingRule,
  type RecordingRule,
  type RuleFile,
} from './rules/promql.ts';

export type { AlertingRule, RecordingRule, RuleFile } from './rules/promql.ts';

export function prometheusRules(m: MonitorConfig): RuleFile {
  const w = promDuration(m.window);
  // Backends with no request yet still get a 0 series, so a fully starved backend shows.
  const zeroPerBackend = `sum by (${BY_BACKEND}) (fulcrum_backend_weight) * 0`;
  const onPool = `on (${BY_POOL})`;
  const windows = new Set<number>();
  for (const b of BURN_WINDOWS) windows.add(b.shortMs).add(b.longMs);
  const errorRatio = (ms: number): RecordingRule => ({
    record: `fulcrum:pool_error_ratio:rate${promDuration(ms)}`,
    expr:
      `sum by (${BY_POOL}) (rate(fulcrum_requests_total{code_class="5xx"}[${promDuration(ms)}]))\n` +
      `/ sum by (${BY_POOL}) (rate(fulcrum_requests_total[${promDuration(ms)}]))`,
  });
  const recording: RecordingRule[] = [
    {
      record: `fulcrum:backend_requests:rate${w}`,
      expr: `sum by (${BY_BACKEND}) (rate(fulcrum_requests_total{backend!=""}[${w}]))\nor ${zeroPerBackend}`,
    },
    {
      record: `fulcrum:backend_requests:increase${w}`,
      expr: `sum by (${BY_BACKEND}) (increase(fulcrum_requests_total{backend!=""}[${w}]))\nor ${zeroPerBackend}`,
    },
    {
      record: `fulcrum:pool_requests:rate${w}`,
      expr: `sum by (${BY_POOL}) (fulcrum:backend_requests:rate${w})`,
    },
    {
      record: `fulcrum:pool_requests:increase${w}`,
      expr: `sum by (${BY_POOL}) (fulcrum:backend_requests:increase${w})`,
    },
    {
      record: `fulcrum:backend_errors:rate${w}`,
      expr: `sum by (${BY_BACKEND}) (rate(fulcrum_requests_total{backend!="",code_class="5xx"}[${w}]))\nor ${zeroPerBackend}`,
    },
    {
      record: `fulcrum:pool_errors:rate${w}`,
      expr: `sum by (${BY_POOL}) (fulcrum:backend_errors:rate${w})`,
    },
    {
      record: `fulcrum:backend_observed_share:ratio_rate${w}`,
      expr: `fulcrum:backend_requests:rate${w}\n/ ${onPool} group_left fulcrum:pool_requests:rate${w}`,
    },
    {
      record: 'fulcrum:backend_expected_share:ratio',
      expr:
        `sum by (${BY_BACKEND}) (fulcrum_backend_effective_weight)\n` +
        `/ ${onPool} group_left sum by (${BY_POOL}) (fulcrum_backend_effective_weight)`,
    },
    {
      record: `fulcrum:backend_share_ratio:ratio_rate${w}`,
      expr: `fulcrum:backend_observed_share:ratio_rate${w}\n/ fulcrum:backend_expected_share:ratio`,
    },
    {
      // Standard score of the observed count under the expected share (binomial).
      record: `fulcrum:backend_share_z:increase${w}`,
      expr:
        `(fulcrum:backend_requests:increase${w} - fulcrum:backend_expected_share:ratio * ${onPool} group_left fulcrum:pool_requests:increase${w})\n` +
        `/ sqrt(fulcrum:backend_expected_share:ratio * (1 - fulcrum:backend_expected_share:ratio) * ${onPool} group_left fulcrum:pool_requests:increase${w})`,
    },
    {
      record: `fulcrum:backend_expected_requests:increase${w}`,
      expr: `fulcrum:backend_expected_share:ratio * ${onPool} group_left fulcrum:pool_requests:increase${w}`,
    },
    {
      record: 'fulcrum:backend_capacity_share:ratio',
      // Equal capacity: x ^ 0 = 1 per backend, over the number of backends in the pool.
      expr: `sum by (${BY_BACKEND}) (fulcrum_backend_weight) ^ 0\n/ ${onPool} group_left count by (${BY_POOL}) (fulcrum_backend_weight)`,
    },
    {
      record: `fulcrum:backend_error_ratio:rate${w}`,
      expr: `fulcrum:backend_errors:rate${w} / fulcrum:backend_requests:rate${w}`,
    },
    {
      record: `fulcrum:backend_peer_error_ratio:rate${w}`,
      expr:
        `(fulcrum:pool_errors:rate${w} - ${onPool} group_right fulcrum:backend_errors:rate${w})\n` +
        `/ (fulcrum:pool_requests:rate${w} - ${onPool} group_right fulcrum:backend_requests:rate${w})`,
    },
    ...[...windows].sort((a, b) => a - b).map(errorRatio),
  ];

  const alerting: AlertingRule[] = ALERT_RULES.map((rule) => {
    const { forMs, keepFiringForMs } = rule.timing(m);
    const q = rule.promql({ monitor: m, w });
    return {
      alert: rule.name,
      expr: q.expr,
      ...(forMs ? { for: promDuration(forMs) } : {}),
      ...(keepFiringForMs ? { keep_firing_for: promDuration(keepFiringForMs) } : {}),
      labels: { severity: rule.severity },
      annotations: { summary: q.summary, description: q.description },
    };
  });
  return {
    groups: [
      { name: 'fulcrum-recording', rules: recording },
      { name: 'fulcrum-alerts', rules: alerting },
    ],
  };
}
