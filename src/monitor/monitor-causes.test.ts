// The causes the monitor names, in the situations the incident drills found it wrong:
// after a rollback (the window still holds the traffic the bad config shaped), under a
// load-aware policy over one slow backend, and for a backend that crashed and was taken
// out by health checking. Real policies pick the backends where the test is about the
// balancer; the traffic is driven through an EventHub on a FakeClock.
import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../core/clock.ts';
import { EventHub } from '../core/events.ts';
import { HostRegistry } from '../data-plane/host-state.ts';
import type { Snapshot } from '../data-plane/snapshot.ts';
import type { AlertView } from './alerts.ts';
import { Monitor } from './monitor.ts';
import { drive, seeded, silentLogger, testSnapshot } from '../testing/monitor-kit.ts';

const config = (pool: Record<string, unknown>, weights = [1, 1, 1, 1]) => ({
  version: 1,
  listeners: { web: { address: '127.0.0.1:8080', routes: [{ pool: 'app' }] } },
  pools: {
    app: {
      ...pool,
      backends: weights.map((weight, i) => ({
        name: `app-${i + 1}`,
        address: `127.0.0.1:${9001 + i}`,
        weight,
      })),
    },
  },
  monitor: {
    window: '10s',
    fairness: { overfed: 1.25, starved: 0.5, minRequestsPerBackend: 20, for: '1s' },
  },
  audit: { schedule: '' },
});

function setup(first: Snapshot) {
  const hub = new EventHub();
  const clock = new FakeClock();
  let snap = first;
  const monitor = new Monitor({
    hub,
    clock,
    logger: silentLogger,
    getSnapshot: () => snap,
    configVersionInfo: (v) => ({ version: v, createdAt: Date.UTC(2026, 10, 24, 1, v), author: 'ops' }),
  });
  const fired: AlertView[] = [];
  monitor.alertTransitions.subscribe((a) => a.state === 'firing' && fired.push(a));
  monitor.start();
  return {
    hub,
    clock,
    monitor,
    fired,
    swap: (s: Snapshot) => (snap = s),
    /** The live view of an alert (annotations as of the last evaluation). */
    alert: (name: string, backend: string) =>
      monitor.alerts().find((a) => a.alertname === name && a.labels['backend'] === backend),
  };
}

const firedOn = (fired: AlertView[], name: string) => fired.some((a) => a.alertname === name);

describe('monitor causes', () => {
  it('a weight skew rolled back is still named as the weight skew, with the versions', () => {
    const registry = new HostRegistry();
    const v1 = testSnapshot(config({ policy: 'weighted-round-robin' }), 1, registry);
    const v2 = testSnapshot(config({ policy: 'weighted-round-robin' }, [8, 1, 1, 1]), 2, registry);
    const v3 = testSnapshot(config({ policy: 'weighted-round-robin' }), 3, registry);
    const t = setup(v1);
    let snap = v1;
    let n = 0;
    // app-1 answers 503 to a third of its requests once it carries 8/11 of the pool.
    const shot = () => {
      const backend = snap.pools.get('app')?.state.pick(undefined)?.name;
      const err = snap === v2 && backend === 'app-1' && n++ % 3 === 0;
      return { backend, status: err ? 503 : 200, durationMs: 10 };
    };
    drive({ ...t, pool: 'app', seconds: 5, rps: 100, shot });
    t.swap((snap = v2));
    drive({
      ...t,
      pool: 'app',
      seconds: 15,
      rps: 100,
      shot,
      onSecond: () => firedOn(t.fired, 'BackendOverloaded'),
    });
    const before = t.alert('BackendOverloaded', 'app-1');
    expect(before?.state).toBe('firing');
    expect(before?.annotations['cause_kind']).toBe('weight-skew');
    // The guard rolls back: equal weights again, and app-1 recovers.
    t.swap((snap = v3));
    drive({ ...t, pool: 'app', seconds: 3, rps: 100, shot });
    const after = t.alert('BackendOverloaded', 'app-1');
    // Still active over a window that holds the skew, judged with version 3 in force...
    expect(after?.state).toBe('firing');
    expect(after?.annotations['description']).toContain('Config version in force: 3');
    // ...and still blamed on the weights of version 2, not on "over-capacity".
    expect(after?.annotations['cause_kind']).toBe('weight-skew');
    expect(after?.annotations['cause']).toBe(
      'weights skewed 8:1 (app-1 weight 8, peers 1) since config version 2 applied 2026-11-24T01:02:00.000Z by ops, until config version 3',
    );
  });

  it('a hash hotspot rolled back to weighted-round-robin is still the hot key, not per-process state', () => {
    const registry = new HostRegistry();
    const hashed = { policy: 'consistent-hash', hash: { key: 'header:x-user-id' } };
    const v1 = testSnapshot(config(hashed), 1, registry);
    const v2 = testSnapshot(config({ policy: 'weighted-round-robin' }), 2, registry);
    const t = setup(v1);
    let snap = v1;
    const rnd = seeded(11);
    const hot = 'user-42';
    const hotBackend = v1.pools.get('app')?.state.pick(hot)?.name as string;
    const shot = () => {
      const state = snap.pools.get('app')?.state;
      if (snap === v2) return { backend: state?.pick(undefined)?.name, status: 200, durationMs: 10 };
      const key = rnd() < 0.8 ? hot : `user-${Math.floor(rnd() * 10_000)}`;
      return { backend: state?.pick(key)?.name, status: 200, durationMs: 10, hashKey: key };
    };
    drive({
      ...t,
      pool: 'app',
      seconds: 15,
      rps: 100,
      shot,
      onSecond: () => firedOn(t.fired, 'BackendOverfed'),
    });
    drive({ ...t, pool: 'app', seconds: 2, rps: 100, shot });
    expect(t.alert('BackendOverfed', hotBackend)?.annotations['cause_kind']).toBe('hot-hash-key');
    t.swap((snap = v2));
    drive({ ...t, pool: 'app', seconds: 3, rps: 100, shot });
    const after = t.alert('BackendOverfed', hotBackend);
    expect(after?.state).toBe('firing');
    expect(after?.annotations['description']).toContain('Config version in force: 2');
    expect(after?.annotations['cause_kind']).toBe('hot-hash-key');
    expect(after?.annotations['cause']).toContain(`hot hash key "${hot}" (header:x-user-id)`);
    expect(after?.annotations['description']).not.toContain('per-process');
    // Later, the key sketch (half a window to a whole one) has forgotten the hashed requests
    // while the window still holds them: the hot key is still the one named.
    drive({ ...t, pool: 'app', seconds: 6, rps: 100, shot });
    expect(t.monitor.poolStats()[0]?.hotKey?.key).toBe(hot);
    expect(t.alert('BackendOverfed', hotBackend)?.annotations['cause_kind']).toBe('hot-hash-key');
  });

  it('round-robin over a slow backend is its slowness; p2c-ewma steering around it is no unfairness', () => {
    const registry = new HostRegistry();
    const rr = testSnapshot(config({ policy: 'round-robin' }), 1, registry);
    const p2c = [2, 3, 4].map((v) => testSnapshot(config({ policy: 'p2c-ewma' }), v, registry));
    const t = setup(rr);
    let snap = rr;
    const rnd = seeded(5);
    let i = 0;
    // app-4 is 8× slower. Round-robin gives it a quarter of the requests, beyond what it can
    // serve: it answers 503 at once to 40% of them. p2c-ewma (as the drills measured it)
    // gives it about 5%, which it serves, the rest evenly over the fast three.
    const shot = () => {
      const backend = snap === rr ? `app-${(i++ % 4) + 1}` : rnd() < 0.05 ? 'app-4' : `app-${(i++ % 3) + 1}`;
      if (backend === 'app-4' && snap === rr && rnd() < 0.4) return { backend, status: 503, durationMs: 1 };
      const slow = backend === 'app-4';
      return { backend, status: 200, durationMs: (slow ? 160 : 20) * (0.8 + rnd() * 0.4) };
    };
    drive({ ...t, pool: 'app', seconds: 10, rps: 300, shot });
    const overloaded = t.alert('BackendOverloaded', 'app-4');
    expect(overloaded?.state).toBe('firing');
    expect(overloaded?.annotations['cause_kind']).toBe('slow-backend');
    expect(overloaded?.annotations['cause']).toMatch(
      /^app-4 is slow \(latency \d\.\d× its peers: mean \d+ ms/,
    );
    // The guard returns to p2c-ewma, and two more reloads follow (each restarts p2c's state).
    for (const s of p2c) {
      t.swap((snap = s));
      drive({ ...t, pool: 'app', seconds: 5, rps: 300, shot });
    }
    expect(t.alert('BackendOverloaded', 'app-4')?.annotations['cause_kind']).toBe('slow-backend');
    expect(
      t.fired.filter((a) => a.alertname === 'BackendOverfed' || a.alertname === 'BackendStarved'),
    ).toEqual([]);
    const stats = t.monitor.poolStats()[0];
    expect(stats?.measure).toBe('in-flight-latency-per-weight');
    const b4 = stats?.backends.find((b) => b.backend === 'app-4');
    expect(b4?.verdict).toBe('slow');
    expect(b4?.latencyFactor).toBeGreaterThan(6);
    expect(b4?.note).toMatch(/^app-4 is slow \(latency \d\.\d× its peers\): p2c-ewma steers around it$/);
    expect(stats?.backends.filter((b) => b.backend !== 'app-4').map((b) => b.verdict)).toEqual([
      'ok',
      'ok',
      'ok',
    ]);
  });

  it('a crashed backend taken out by health checking is down, not starved', () => {
    const snap = testSnapshot(config({ policy: 'round-robin' }), 1);
    const t = setup(snap);
    const state = snap.pools.get('app')?.state;
    let crashed = false;
    // Until health checking notices, requests picked for app-2 fail to connect and are
    // retried on the next backend (the outcome names the backend that answered).
    const shot = () => {
      let backend = state?.pick(undefined)?.name;
      if (crashed && backend === 'app-2') backend = state?.pick(undefined)?.name;
      return { backend, status: 200, durationMs: 10 };
    };
    drive({ ...t, pool: 'app', seconds: 10, rps: 100, shot });
    crashed = true;
    drive({ ...t, pool: 'app', seconds: 2, rps: 100, shot });
    const h = state?.hosts[1];
    if (h) h.status = 'unhealthy';
    state?.refresh();
    drive({ ...t, pool: 'app', seconds: 15, rps: 100, shot });
    expect(firedOn(t.fired, 'BackendStarved')).toBe(false);
    const b2 = t.monitor.poolStats()[0]?.backends.find((b) => b.backend === 'app-2');
    expect(b2).toMatchObject({ status: 'unhealthy', verdict: 'down', requests: 0 });
    expect(b2?.note).toBe('app-2 is unhealthy: expected share 0 while out, never starved');
    // Back in rotation: judged again once the window no longer holds its time out.
    if (h) h.status = 'healthy';
    state?.refresh();
    crashed = false;
    drive({ ...t, pool: 'app', seconds: 12, rps: 100, shot });
    expect(t.monitor.poolStats()[0]?.backends.find((b) => b.backend === 'app-2')?.verdict).toBe('ok');
  });

  it('a backend killed under load with retries on: BackendDown names it, the retries explain its peers, no NoBackendAvailable', async () => {
    // Panic below 90% available: with one of three down the pool spreads over all three, so
    // its peers are judged against configured weights and the retries overfeed them.
    const snap = testSnapshot(
      config({ policy: 'weighted-round-robin', panicThreshold: '90%' }, [1, 1, 1]),
      1,
    );
    const t = setup(snap);
    const state = snap.pools.get('app')?.state;
    const dead = state?.hosts[2];
    let crashed = false;
    let refused = 0;
    // As the proxy does: a try on the dead backend fails to connect and is retried on another
    // backend; one in ten retries is refused by the budget and answered 502 naming no backend.
    const shot = () => {
      const first = state?.pick(undefined);
      if (!crashed || first !== dead) return { backend: first?.name, status: 200, durationMs: 10 };
      if (refused++ % 10 === 0)
        return {
          backend: undefined,
          status: 502,
          durationMs: 1,
          error: 'FULCRUM_ERR_PROXY_UPSTREAM_CONNECT',
        };
      const tried = new Set(first ? [first] : []);
      return { backend: state?.pick(undefined, tried)?.name, status: 200, durationMs: 12, retries: 1 };
    };
    drive({ ...t, pool: 'app', seconds: 10, rps: 100, shot });
    crashed = true;
    drive({ ...t, pool: 'app', seconds: 2, rps: 100, shot });
    if (dead) dead.status = 'unhealthy';
    state?.refresh();
    expect(state?.panic).toBe(true);
    t.hub.hostState.emit({
      pool: 'app',
      backend: 'app-3',
      address: '127.0.0.1:9003',
      from: 'healthy',
      to: 'unhealthy',
      reason: 'connect ECONNREFUSED',
      at: Date.now(),
    });
    drive({ ...t, pool: 'app', seconds: 15, rps: 100, shot });
    expect(t.fired.filter((a) => a.alertname === 'BackendDown').map((a) => a.labels['backend'])).toEqual([
      'app-3',
    ]);
    expect(firedOn(t.fired, 'NoBackendAvailable')).toBe(false);
    const overfed = t.fired.filter((a) => a.alertname === 'BackendOverfed');
    expect(overfed.map((a) => a.labels['backend']).sort()).toEqual(['app-1', 'app-2']);
    for (const a of overfed) {
      expect(a.annotations['cause_kind']).toBe('retries');
      expect(a.annotations['cause']).toMatch(
        /^app-3 down: its traffic was retried to app-[12](, app-[12])?$/,
      );
      expect(a.annotations['cause']).toContain(a.labels['backend']);
      expect(a.annotations['description']).toContain('the pool is in panic');
      expect(a.annotations['description']).not.toContain('bug');
      expect(a.annotations['description']).not.toContain('flapping');
    }
    expect(t.monitor.alerts().filter((a) => a.annotations['cause_kind'] === 'bug')).toEqual([]);
    // The refused retries are 502 connect failures, not answers that found no backend.
    const { body } = await t.monitor.metrics();
    expect(body).toContain('fulcrum_no_backend_total{pool="app"} 0');
    expect(body).toMatch(
      /fulcrum_requests_total\{listener="web",pool="app",backend="",code_class="5xx"\} [1-9]/,
    );
  });

  it('every alert carries the instance label of the process that raised it', () => {
    const snap = testSnapshot(config({ policy: 'round-robin' }), 1);
    const hub = new EventHub();
    const clock = new FakeClock();
    const named = new Monitor({
      hub,
      clock,
      logger: silentLogger,
      getSnapshot: () => snap,
      instance: 'lb-a:9901',
    });
    const dflt = new Monitor({ hub, clock, logger: silentLogger, getSnapshot: () => snap });
    named.start();
    dflt.start();
    const h = snap.pools.get('app')?.state.hosts[0];
    if (h) h.status = 'unhealthy';
    snap.pools.get('app')?.state.refresh();
    clock.advance(12_000);
    expect(named.alerts().map((a) => [a.alertname, a.labels['instance']])).toEqual([
      ['BackendDown', 'lb-a:9901'],
    ]);
    expect(dflt.instance).toBe(`${hostname()}:${process.pid}`);
    expect(dflt.alerts()[0]?.labels['instance']).toBe(dflt.instance);
    // Two instances raising the same alert are two alerts (Alertmanager never dedupes them).
    expect(dflt.alerts()[0]?.fingerprint).not.toBe(named.alerts()[0]?.fingerprint);
    named.stop();
    dflt.stop();
  });
});
