// The built-in alert rules: names, severities, categories and timings. What makes each one
// active lives in Monitor.evaluate(); docs/monitoring.md and the Prometheus rule file
// (prometheus-rules.ts) describe the same rules and must stay in step with this list.
import type { MonitorConfig } from '../config/schema.ts';
import type { RuleDef } from './alerts.ts';

export const RULE_NAMES = [
  'ServiceUnavailableBurn',
  'BackendDown',
  'PoolDegraded',
  'PoolPanic',
  'NoBackendAvailable',
  'HealthFlapping',
  'BackendOverfed',
  'BackendStarved',
  'BackendOverloaded',
  'ConfigApplyFailed',
  'NoTraffic',
  'AuditFailing',
  'AuditsNotRunning',
] as const;
export type RuleName = (typeof RULE_NAMES)[number];

/** Below this fraction of its weighted backends available, a pool is degraded. */
export const DEGRADED_FRACTION = 0.75;
/** No-backend answers within this span keep NoBackendAvailable active. */
export const NO_BACKEND_SPAN_MS = 10_000;

export function builtinRules(m: MonitorConfig): Record<RuleName, RuleDef> {
  const fair = m.fairness.for;
  const r = (
    name: RuleName,
    severity: RuleDef['severity'],
    category: RuleDef['category'],
    forMs: number,
    keepFiringForMs = 0,
  ): RuleDef => ({ name, severity, category, forMs, keepFiringForMs });
  return {
    ServiceUnavailableBurn: r('ServiceUnavailableBurn', 'critical', 'availability', 0, 60_000),
    BackendDown: r('BackendDown', 'warning', 'health', 10_000),
    PoolDegraded: r('PoolDegraded', 'warning', 'availability', 30_000),
    PoolPanic: r('PoolPanic', 'critical', 'availability', 0, 30_000),
    NoBackendAvailable: r('NoBackendAvailable', 'critical', 'availability', 0),
    HealthFlapping: r('HealthFlapping', 'warning', 'health', 0, 60_000),
    BackendOverfed: r('BackendOverfed', 'warning', 'fairness', fair, 30_000),
    BackendStarved: r('BackendStarved', 'warning', 'fairness', fair, 30_000),
    BackendOverloaded: r('BackendOverloaded', 'critical', 'fairness', fair, 30_000),
    ConfigApplyFailed: r('ConfigApplyFailed', 'warning', 'config', 0),
    NoTraffic: r('NoTraffic', 'warning', 'traffic', 0),
    AuditFailing: r('AuditFailing', 'warning', 'audit', 0),
    AuditsNotRunning: r('AuditsNotRunning', 'warning', 'audit', 0),
  };
}
