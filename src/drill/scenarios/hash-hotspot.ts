// Consistent hashing on a key most traffic shares: the backend owning the hot key drowns.
import { drillConfig, misnamedAsBug, type Scenario } from '../scenario.ts';

export const HOT_KEY = 'tenant-big';
/** Share of requests carrying the hot key. */
const HOT_SHARE = 0.7;

export const hashHotspot: Scenario = {
  name: 'hash-hotspot',
  title: 'consistent hashing on a key that most traffic shares',
  story: `a config change hashes on x-tenant with a loose load bound; ${HOT_SHARE * 100}% of requests carry "${HOT_KEY}" and land on one backend`,
  backends: 3,
  budgets: { detectMs: 20_000, recoverMs: 60_000, failedShare: 0.05 },
  recovery: 'guard-rollback',
  // Deterministic mix: 7 in 10 requests are the big tenant, the rest spread over 500 small ones.
  loadHeaders: (i) => ({ 'x-tenant': i % 10 < HOT_SHARE * 10 ? HOT_KEY : `tenant-${(i * 7919) % 500}` }),
  goodConfig: (env) => drillConfig(env, { short: env.short }),
  badConfig: (env) =>
    drillConfig(env, {
      short: env.short,
      policy: 'consistent-hash',
      hash: { key: 'header:x-tenant', balanceFactor: 10 },
    }),
  // The hot backend is whichever owns the key on the ring: learned from who served most after the fault.
  culprit: (_env, traffic) => {
    let best: string | undefined;
    let most = 0;
    for (const [name, n] of traffic) if (n > most) [best, most] = [name, n];
    return best;
  },
  namesCause: (alert, culprit) =>
    alert.annotations['cause_kind'] === 'hot-hash-key' ||
    (alert.annotations['cause'] ?? '').includes(HOT_KEY) ||
    (culprit !== undefined && alert.labels['backend'] === culprit && alert.category === 'fairness'),
  // Whatever backend the key lands on, its overfeeding is the hot key, also after the
  // rollback to weighted-round-robin (it used to turn into "per-process-state").
  misnames(alert) {
    const kind = alert.annotations['cause_kind'];
    if (alert.alertname === 'BackendOverfed' && kind !== 'hot-hash-key')
      return `BackendOverfed on ${alert.labels['backend'] ?? '?'} blamed on ${kind ?? 'nothing'}, not the hot key`;
    return misnamedAsBug(alert);
  },
};
