// One backend dies mid-load, with retries on connect failure. Health checks must take it
// out; retries keep clients from seeing most of it. The monitor must name the dead backend
// (BackendDown), never call it "no backend available" while two serve, and blame any
// overfeeding of the two survivors on the retries away from the dead one.
import { aboutBackend, drillConfig, misnamedAsBug, type Scenario } from '../scenario.ts';

export const backendCrash: Scenario = {
  name: 'backend-crash',
  title: 'one backend dies mid-load',
  story: 'b2 stops: its connections reset and new ones are refused; retries move its traffic to b1 and b3',
  backends: 3,
  // Room for two backends to carry the load when one is out (N+1 capacity).
  headroom: 3,
  budgets: { detectMs: 20_000, recoverMs: 10_000, failedShare: 0.05 },
  recovery: 'health-removal',
  // Panic below 70% healthy: with b2 out the pool spreads over all three, as the issue's
  // balancer did, so b1 and b3 are judged against a third each while retries overfeed them.
  goodConfig: (env) =>
    drillConfig(env, {
      short: env.short,
      panicThreshold: '70%',
      // The budget guards retries to backends that were reached; a connect failure reached none.
      retries: '{ attempts: 2, on: [connect-failure], budget: 100% }',
    }),
  async inject(env) {
    const b = env.backends[1];
    if (b === undefined) return 'no backend to crash';
    await b.crash();
    return `${b.name} crashed (connections reset, port closed)`;
  },
  culprit: (env) => env.backends[1]?.name,
  // The survivors take b2's traffic through retries: each is overfed, and the alert says why.
  mustName: (env) =>
    [env.backends[0], env.backends[2]].flatMap((b) =>
      b ? [{ alertname: 'BackendOverfed', backend: b.name, causeKind: 'retries' }] : [],
    ),
  namesCause: (alert, culprit) => alert.alertname === 'BackendDown' && aboutBackend(alert, culprit),
  misnames(alert, culprit) {
    if (alert.alertname === 'NoBackendAvailable')
      return 'NoBackendAvailable while two backends serve (clients got 502 connect failures, not 503)';
    if (alert.alertname === 'BackendDown' && !aboutBackend(alert, culprit))
      return `BackendDown names ${alert.labels['backend'] ?? '?'}, which never went down`;
    if (alert.alertname === 'BackendStarved' && aboutBackend(alert, culprit))
      return `${culprit ?? '?'} called starved: it is down`;
    const kind = alert.annotations['cause_kind'];
    if (alert.alertname === 'BackendOverfed' && kind !== 'retries')
      return `${alert.labels['backend'] ?? '?'} overfed blamed on ${kind ?? 'nothing'}, not on the retries away from ${culprit ?? '?'}`;
    return misnamedAsBug(alert);
  },
};
