// One backend dies mid-load. Health checks must take it out; retries on connect failure
// keep clients from seeing most of it.
import { aboutBackend, drillConfig, type Scenario } from '../scenario.ts';

export const backendCrash: Scenario = {
  name: 'backend-crash',
  title: 'one backend dies mid-load',
  story: 'b2 stops: its connections reset and new ones are refused',
  backends: 3,
  // Room for two backends to carry the load when one is out (N+1 capacity).
  headroom: 3,
  budgets: { detectMs: 20_000, recoverMs: 10_000, failedShare: 0.05 },
  recovery: 'health-removal',
  goodConfig: (env) => drillConfig(env, { short: env.short }),
  async inject(env) {
    const b = env.backends[1];
    if (b === undefined) return 'no backend to crash';
    await b.crash();
    return `${b.name} crashed (connections reset, port closed)`;
  },
  culprit: (env) => env.backends[1]?.name,
  namesCause: (alert, culprit) => alert.alertname === 'BackendDown' && aboutBackend(alert, culprit),
};
