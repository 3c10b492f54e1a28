// Every built-in alert rule, in the order docs/monitoring.md lists them. Adding a rule: one
// file in this folder, one line here, a firing and an honest fixture in contract.test.ts,
// then `node scripts/gen-monitoring-docs.ts`.
import type { AlertRule } from './alert-rule.ts';
import { auditFailing } from './audit-failing.ts';
import { auditsNotRunning } from './audits-not-running.ts';
import { backendDown } from './backend-down.ts';
import { backendOverfed } from './backend-overfed.ts';
import { backendOverloaded } from './backend-overloaded.ts';
import { backendStarved } from './backend-starved.ts';
import { configApplyFailed } from './config-apply-failed.ts';
import { healthFlapping } from './health-flapping.ts';
import { noBackendAvailable } from './no-backend-available.ts';
import { noTraffic } from './no-traffic.ts';
import { poolDegraded } from './pool-degraded.ts';
import { poolPanic } from './pool-panic.ts';
import { serviceUnavailableBurn } from './service-unavailable-burn.ts';
import { workerSkew } from './worker-skew.ts';

export const ALERT_RULES: readonly AlertRule[] = [
  serviceUnavailableBurn,
  backendDown,
  poolDegraded,
  poolPanic,
  noBackendAvailable,
  healthFlapping,
  backendOverfed,
  backendStarved,
  backendOverloaded,
  configApplyFailed,
  noTraffic,
  auditFailing,
  auditsNotRunning,
  workerSkew,
];

export const RULE_NAMES: readonly string[] = ALERT_RULES.map((r) => r.name);
