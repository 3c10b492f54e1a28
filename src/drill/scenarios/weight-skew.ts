// The postmortem itself: one backend weighted far above the others overloads and answers 503.
import { aboutBackend, drillConfig, misnamedAsBug, type Scenario } from '../scenario.ts';

export const weightSkew: Scenario = {
  name: 'weight-skew',
  title: 'one backend weighted far above the others (the postmortem)',
  story:
    'a config change weights b1 10:1:1; b1 takes 83% of the traffic for a third of the capacity and answers 503 beyond it',
  backends: 3,
  budgets: { detectMs: 15_000, recoverMs: 60_000, failedShare: 0.05 },
  recovery: 'guard-rollback',
  goodConfig: (env) => drillConfig(env, { short: env.short }),
  badConfig: (env) => drillConfig(env, { short: env.short, weights: [10, 1, 1] }),
  culprit: (env) => env.backends[0]?.name,
  namesCause: (alert, culprit) => aboutBackend(alert, culprit),
  misnames(alert, culprit) {
    // The skew shaped the window, also after the guard rolled it back (not "over-capacity").
    const kind = alert.annotations['cause_kind'];
    if (alert.alertname === 'BackendOverloaded' && aboutBackend(alert, culprit) && kind !== 'weight-skew')
      return `${alert.alertname} on ${culprit ?? '?'} blamed on ${kind ?? 'nothing'}, not the weights`;
    if (kind === 'over-capacity') return `${alert.alertname} blames capacity, not the weights`;
    return misnamedAsBug(alert);
  },
};
