// One contract every alert rule of the catalog meets, on hand-written contexts (plain data,
// no monitor, no clock): it fires on its own fixture with the labels it declares, stays
// quiet on an honest pool (and on its near miss, where it has one), and its wording names
// the subject and the cause. A rule without a fixture here fails the first test.
import { describe, expect, it } from 'vitest';
import { configSchema } from '../../config/schema.ts';
import { BURN_WINDOWS } from '../burn-rate.ts';
import type { BackendStatsView, PoolStatsView } from '../pool-stats-view.ts';
import { ALERT_RULES } from './catalog.ts';
import type { HostFacts, PoolFacts, RuleContext } from './rule-context.ts';

const monitor = configSchema.shape.monitor.parse(undefined);
const NAMES = ['app-1', 'app-2', 'app-3'];

function backend(name: string, o: Partial<BackendStatsView> = {}): BackendStatsView {
  return {
    backend: name,
    address: `127.0.0.1:${9000 + NAMES.indexOf(name) + 1}`,
    status: 'healthy',
    available: true,
    configuredWeight: 1,
    effectiveWeight: 1,
    inFlight: 0,
    capacity: 1,
    expectedShare: 1 / 3,
    observedShare: 1 / 3,
    shareRatio: 1,
    z: 0,
    verdict: 'ok',
    requests: 1000,
    rps: 1000 / 60,
    errors: 0,
    errorRatio: 0,
    p50Ms: 10,
    p99Ms: 20,
    capacityShare: 1 / 3,
    overloaded: false,
    latencyFactor: 1,
    note: undefined,
    ...o,
  };
}

function host(name: string, o: Partial<HostFacts> = {}): HostFacts {
  return {
    name,
    address: `127.0.0.1:${9000 + NAMES.indexOf(name) + 1}`,
    status: 'healthy',
    available: true,
    drain: false,
    configuredWeight: 1,
    flips: 0,
    ...o,
  };
}

/** An honest pool: three healthy backends, 3000 requests in the window, shares as weighted. */
function pool(o: Partial<PoolFacts> = {}, stats: Partial<PoolStatsView> = {}): PoolFacts {
  return {
    name: 'app',
    policy: 'weighted-round-robin',
    panic: false,
    panicThreshold: 0.5,
    flapDampening: { flips: 4, window: 60_000 },
    hosts: NAMES.map((n) => host(n)),
    candidates: 3,
    stats: {
      pool: 'app',
      policy: 'weighted-round-robin',
      measure: 'requests',
      windowMs: 60_000,
      requests: 3000,
      rps: 50,
      errorRatio: 0,
      jain: 1,
      panic: false,
      note: undefined,
      hotKey: undefined,
      configVersion: 3,
      fairness: { overfed: 1.25, starved: 0.5 },
      backends: NAMES.map((n) => backend(n)),
      ...stats,
    },
    burn: BURN_WINDOWS.map((window) => ({
      window,
      shortTotal: 1500,
      shortErrors: 0,
      longTotal: 9000,
      longErrors: 0,
    })),
    noBackend: 0,
    hadTraffic: true,
    causes: {},
    overload: [],
    ...o,
  };
}

function context(o: Partial<RuleContext> = {}): RuleContext {
  return {
    monitor,
    version: '3',
    runningVersion: 3,
    pools: [pool()],
    workers: [],
    lastApply: { ok: true, at: Date.UTC(2026, 0, 1) },
    lastAudit: { ok: true, at: Date.UTC(2026, 0, 1) },
    audit: { schedule: '*/15 * * * *', gapMs: 35 * 60_000, sinceLastPassMs: 60_000 },
    ...o,
  };
}

const withBackend = (name: string, o: Partial<BackendStatsView>): BackendStatsView[] =>
  NAMES.map((n) => backend(n, n === name ? o : {}));

interface Fixture {
  /** A context on which the rule fires, and the labels of what fires. */
  fires: RuleContext;
  labels: Record<string, string>[];
  /** The cause_kind the first sample names (fairness rules). */
  causeKind?: string;
  /** A context close to firing that must stay quiet. */
  nearMiss: RuleContext;
}

const crashed = NAMES.map((n) => host(n, n === 'app-3' ? { status: 'unhealthy', available: false } : {}));

const FIXTURES: Record<string, Fixture> = {
  ServiceUnavailableBurn: {
    fires: context({
      pools: [
        pool({
          burn: BURN_WINDOWS.map((window) => ({
            window,
            shortTotal: 1500,
            shortErrors: 450,
            longTotal: 9000,
            longErrors: 450,
          })),
        }),
      ],
    }),
    labels: [{ pool: 'app' }],
    // 30% errors but fewer than 20 requests in the short window: a handful is not a burn.
    nearMiss: context({
      pools: [
        pool({
          burn: BURN_WINDOWS.map((window) => ({
            window,
            shortTotal: 10,
            shortErrors: 3,
            longTotal: 10,
            longErrors: 3,
          })),
        }),
      ],
    }),
  },
  BackendDown: {
    fires: context({ pools: [pool({ hosts: crashed, candidates: 2 })] }),
    labels: [{ pool: 'app', backend: 'app-3' }],
    // Draining is intended, not down.
    nearMiss: context({
      pools: [
        pool({
          hosts: NAMES.map((n) =>
            host(n, n === 'app-3' ? { status: 'unhealthy', available: false, drain: true } : {}),
          ),
        }),
      ],
    }),
  },
  PoolDegraded: {
    fires: context({ pools: [pool({ hosts: crashed, candidates: 2 })] }),
    labels: [{ pool: 'app' }],
    // Three of four available is exactly 75%: not below it.
    nearMiss: context({
      pools: [
        pool({
          hosts: [...NAMES.map((n) => host(n)), host('app-4', { status: 'unhealthy', available: false })],
        }),
      ],
    }),
  },
  PoolPanic: {
    fires: context({
      pools: [
        pool({
          panic: true,
          hosts: NAMES.map((n) => host(n, n === 'app-1' ? {} : { status: 'unhealthy', available: false })),
        }),
      ],
    }),
    labels: [{ pool: 'app' }],
    // Two of three down without panic: degraded, not panicking.
    nearMiss: context({ pools: [pool({ hosts: crashed, candidates: 2 })] }),
  },
  NoBackendAvailable: {
    fires: context({ pools: [pool({ noBackend: 12 })] }),
    labels: [{ pool: 'app' }],
    // One backend of three crashed: clients see 502 connect failures, never a no-backend 503.
    nearMiss: context({ pools: [pool({ hosts: crashed, candidates: 2 })] }),
  },
  HealthFlapping: {
    fires: context({
      pools: [pool({ hosts: NAMES.map((n) => host(n, n === 'app-2' ? { flips: 5 } : {})) })],
    }),
    labels: [{ pool: 'app', backend: 'app-2' }],
    nearMiss: context({
      pools: [pool({ hosts: NAMES.map((n) => host(n, n === 'app-2' ? { flips: 3 } : {})) })],
    }),
  },
  BackendOverfed: {
    fires: context({
      pools: [
        pool(
          {
            causes: {
              'app-1': {
                fairness: [{ kind: 'retries', text: 'app-3 down: its traffic was retried to app-1, app-2' }],
              },
            },
          },
          {
            backends: withBackend('app-1', {
              verdict: 'overfed',
              shareRatio: 1.5,
              observedShare: 0.5,
              z: 9,
            }),
          },
        ),
      ],
    }),
    labels: [{ pool: 'app', backend: 'app-1' }],
    causeKind: 'retries',
    // A slow backend a load-aware policy steers around is no unfairness.
    nearMiss: context({
      pools: [pool({}, { backends: withBackend('app-1', { verdict: 'slow', shareRatio: 1.6, z: 9 }) })],
    }),
  },
  BackendStarved: {
    fires: context({
      pools: [
        pool(
          { causes: { 'app-2': { fairness: [{ kind: 'hot-hash-key', text: 'hot hash key "k"' }] } } },
          {
            backends: withBackend('app-2', {
              verdict: 'starved',
              shareRatio: 0.3,
              observedShare: 0.1,
              z: -9,
            }),
          },
        ),
      ],
    }),
    labels: [{ pool: 'app', backend: 'app-2' }],
    causeKind: 'hot-hash-key',
    // A backend that is down gets less by design: never starved.
    nearMiss: context({
      pools: [pool({}, { backends: withBackend('app-2', { verdict: 'down', shareRatio: 0.1, z: -9 }) })],
    }),
  },
  BackendOverloaded: {
    fires: context({
      pools: [
        pool(
          {
            causes: {
              'app-1': {
                overload: [{ kind: 'weight-skew', text: 'weights skewed 10:1 (app-1 weight 10, peers 1)' }],
              },
            },
          },
          {
            backends: withBackend('app-1', {
              overloaded: true,
              observedShare: 0.83,
              errors: 300,
              errorRatio: 0.12,
            }),
          },
        ),
      ],
    }),
    labels: [{ pool: 'app', backend: 'app-1' }],
    causeKind: 'weight-skew',
    // Failing alone is not overload: the capacity judgement said no.
    nearMiss: context({
      pools: [pool({}, { backends: withBackend('app-1', { errors: 300, errorRatio: 0.3 }) })],
    }),
  },
  ConfigApplyFailed: {
    fires: context({ lastApply: { ok: false, error: 'listener web: EADDRINUSE', at: Date.UTC(2026, 0, 1) } }),
    labels: [{}],
    nearMiss: context({ lastApply: undefined }),
  },
  WorkerSkew: {
    // Two long-lived connections hashed onto worker 1 of 4.
    fires: context({
      workers: [
        { worker: 0, requests: 100, connections: 1 },
        { worker: 1, requests: 1900, connections: 2 },
        { worker: 2, requests: 0, connections: 0 },
        { worker: 3, requests: 0, connections: 0 },
      ],
    }),
    labels: [{}],
    // Uneven but within 1.5× of a fair quarter.
    nearMiss: context({
      workers: [
        { worker: 0, requests: 700, connections: 9 },
        { worker: 1, requests: 500, connections: 8 },
        { worker: 2, requests: 400, connections: 7 },
        { worker: 3, requests: 400, connections: 8 },
      ],
    }),
  },
  NoTraffic: {
    fires: context({ pools: [pool({ hadTraffic: true }, { requests: 0 })] }),
    labels: [{ pool: 'app' }],
    // Never had traffic: nothing stopped.
    nearMiss: context({ pools: [pool({ hadTraffic: false }, { requests: 0 })] }),
  },
  AuditFailing: {
    fires: context({ lastAudit: { ok: false, at: Date.UTC(2026, 0, 1) } }),
    labels: [{}],
    nearMiss: context({ lastAudit: undefined }),
  },
  AuditsNotRunning: {
    fires: context({
      audit: { schedule: '*/15 * * * *', gapMs: 35 * 60_000, sinceLastPassMs: 36 * 60_000 },
    }),
    labels: [{}],
    nearMiss: context({ audit: { schedule: '', gapMs: undefined, sinceLastPassMs: 36 * 60_000 } }),
  },
};

describe('alert rule contract', () => {
  it('has a fixture for every rule of the catalog and a rule for every fixture', () => {
    expect(Object.keys(FIXTURES).sort()).toEqual(ALERT_RULES.map((r) => r.name).sort());
  });

  it('rule names are unique', () => {
    expect(new Set(ALERT_RULES.map((r) => r.name)).size).toBe(ALERT_RULES.length);
  });

  describe.each(ALERT_RULES.map((r) => [r.name, r] as const))('%s', (name, rule) => {
    const fx = FIXTURES[name] as Fixture;

    it('fires on its fixture with the labels it declares', () => {
      const active = rule.evaluate(fx.fires);
      expect(active.map((a) => a.labels)).toEqual(fx.labels);
      for (const a of active) expect(Object.keys(a.labels).sort()).toEqual([...rule.labels].sort());
    });

    it('stays quiet on an honest pool', () => {
      expect(rule.evaluate(context())).toEqual([]);
    });

    it('stays quiet on its near miss', () => {
      expect(rule.evaluate(fx.nearMiss)).toEqual([]);
    });

    it('names its subject and its cause, and says what to run', () => {
      for (const a of rule.evaluate(fx.fires)) {
        const summary = a.annotations['summary'] ?? '';
        for (const v of Object.values(a.labels)) expect(summary).toContain(v);
        expect((a.annotations['description'] ?? '').length).toBeGreaterThan(summary.length);
        expect(a.annotations['command']).toMatch(/^fulcrum /);
        if (fx.causeKind !== undefined) {
          expect(a.annotations['cause_kind']).toBe(fx.causeKind);
          expect(summary).toContain(`(${fx.causeKind})`);
          expect(a.annotations['description']).toContain(a.annotations['cause']);
          expect(a.annotations['description']).not.toContain('likely a bug');
        }
      }
    });

    it('has a doc row and PromQL that only templates labels', () => {
      expect(rule.doc.activeWhen.length).toBeGreaterThan(10);
      expect(rule.doc.whatToDo.length).toBeGreaterThan(10);
      const q = rule.promql({ monitor, w: '1m' });
      expect(q.expr.length).toBeGreaterThan(5);
      expect(`${q.summary}${q.description}`).not.toContain('$value');
      // Aggregations keep the instance: two balancers with the same pool name never merge.
      for (const m of q.expr.matchAll(/\b(by|on) \(([^)]*)\)/g)) expect(m[2]).toMatch(/^instance, job\b/);
    });
  });
});
