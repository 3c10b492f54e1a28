// One backend turns slow. Round-robin keeps giving it a third of the traffic, which piles up
// beyond its capacity; p2c-ewma steers around it. The drill runs round-robin (applied under
// a guard), slows b3, and lets the guard return to p2c-ewma: the two policies side by side.
import { aboutBackend, drillConfig, misnamedAsBug, type Scenario } from '../scenario.ts';

export const SLOW_FACTOR = 8;

export const backendSlowdown: Scenario = {
  name: 'backend-slowdown',
  title: 'one backend turns slow (round-robin vs p2c-ewma)',
  story: `the pool runs round-robin; b3 turns ${SLOW_FACTOR}× slower, fills its capacity and answers 503 to a third of the traffic`,
  backends: 3,
  // Room for two backends to carry the load when one is out: only the slow one should fail.
  headroom: 3,
  budgets: { detectMs: 20_000, recoverMs: 60_000, failedShare: 0.05 },
  recovery: 'guard-rollback',
  compare: ['round-robin', 'p2c-ewma'],
  goodConfig: (env) => drillConfig(env, { short: env.short, policy: 'p2c-ewma' }),
  badConfig: (env) => drillConfig(env, { short: env.short, policy: 'round-robin' }),
  async inject(env) {
    const b = env.backends[2];
    if (b === undefined) return 'no backend to slow down';
    b.serviceMs = env.serviceMs * SLOW_FACTOR;
    return `${b.name} now takes ${b.serviceMs} ms per request (was ${env.serviceMs} ms)`;
  },
  culprit: (env) => env.backends[2]?.name,
  namesCause: (alert, culprit) => aboutBackend(alert, culprit),
  misnames(alert, culprit) {
    // p2c-ewma steering around the slow backend is no unfairness, and reloads are not why it fails.
    if (alert.alertname === 'BackendOverfed' && aboutBackend(alert, culprit))
      return `${culprit ?? '?'} called overfed: it is slow`;
    if (alert.alertname === 'BackendOverloaded' && aboutBackend(alert, culprit)) {
      const kind = alert.annotations['cause_kind'];
      if (kind !== 'slow-backend')
        return `${culprit ?? '?'} overloaded blamed on ${kind ?? 'nothing'}, not its latency`;
    }
    if (alert.annotations['cause_kind'] === 'per-process-state') return `${alert.alertname} blames reloads`;
    return misnamedAsBug(alert);
  },
};
