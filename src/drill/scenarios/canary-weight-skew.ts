// The postmortem's 10:1:1 again, sent as a 10% traffic-slice canary under the guard
// (`fulcrum apply --canary 10% --guard …`): the canary slice sends 83% of its requests to b1,
// which runs close to its capacity, so b1 overloads (503) and the slice fails more than the
// baseline slice over the same seconds; the guard rolls the canary back. Detection is the
// guard's verdict: a tenth of the traffic moves b1's share from 33% to 38%, too little for the
// monitor's fairness alerts (overfed at 1.25×).
import { aboutBackend, drillConfig, misnamedAsBug, type Scenario } from '../scenario.ts';

export const canaryWeightSkew: Scenario = {
  name: 'canary-weight-skew',
  title: 'the postmortem weight skew as a 10% canary',
  story:
    'a config change weights b1 10:1:1, sent as a 10% canary: the slice sends 83% of its requests to b1, which answers 503 beyond its capacity',
  backends: 3,
  // Each backend serves 1.2× its fair share (b1 at 83% of its capacity under 1:1:1): a 10%
  // slice at 10:1:1 raises b1's share by 15%, to 96% of it: bursts pass it.
  headroom: 1.2,
  budgets: { detectMs: 10_000, recoverMs: 30_000, failedShare: 0.01 },
  recovery: 'guard-rollback',
  detection: 'guard-verdict',
  canary: '10%',
  goodConfig: (env) => drillConfig(env, { short: env.short }),
  badConfig: (env) => drillConfig(env, { short: env.short, weights: [10, 1, 1] }),
  culprit: (env) => env.backends[0]?.name,
  namesCause: (alert, culprit) => aboutBackend(alert, culprit),
  misnames: (alert) => misnamedAsBug(alert),
};
