// A health-check path that only one backend answers: the others are marked down and the one
// left carries everything, beyond its capacity.
import { drillConfig, misnamedAsBug, type Scenario } from '../scenario.ts';

export const badHealthCheck: Scenario = {
  name: 'bad-health-check',
  title: 'a health-check path that fails on most backends',
  story:
    'a config change points the health check at /ready, which only b1 serves; b2 and b3 are marked down and b1 carries everything',
  backends: 3,
  readyOnly: 0,
  budgets: { detectMs: 20_000, recoverMs: 60_000, failedShare: 0.05 },
  recovery: 'guard-rollback',
  goodConfig: (env) => drillConfig(env, { short: env.short }),
  badConfig: (env) => drillConfig(env, { short: env.short, healthPath: '/ready' }),
  culprit: (env) => env.backends[0]?.name,
  // Named when an alert says health removed b1's peers, or names a peer as down.
  namesCause: (alert, culprit) =>
    alert.annotations['cause_kind'] === 'peers-removed-by-health' ||
    (alert.alertname === 'BackendDown' &&
      alert.labels['backend'] !== undefined &&
      alert.labels['backend'] !== culprit),
  misnames: (alert) => misnamedAsBug(alert),
};
