// The fairness detector end to end: real RequestOutcome events through an EventHub into a
// Monitor on a FakeClock, judged against hand-built snapshots. Each scenario prints the
// simulated time from fault to firing alert (docs/monitoring.md quotes them).
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/core/clock.ts';
import { EventHub } from '../../src/core/events.ts';
import { HostRegistry } from '../../src/data-plane/host-state.ts';
import type { AlertView } from '../../src/monitor/alerts.ts';
import { Monitor } from '../../src/monitor/monitor.ts';
import { drive, seeded, silentLogger, testSnapshot } from '../../src/testing/monitor-kit.ts';
import type { Snapshot } from '../../src/data-plane/snapshot.ts';

const backends = (weights: number[], extra: Record<string, unknown> = {}) =>
  weights.map((weight, i) => ({ name: `app-${i + 1}`, address: `127.0.0.1:${9001 + i}`, weight, ...extra }));

const config = (pool: Record<string, unknown>) => ({
  version: 1,
  listeners: { web: { address: '127.0.0.1:8080', routes: [{ pool: 'app' }] } },
  pools: { app: pool },
  audit: { schedule: '' },
});

function setup(first: Snapshot, versions?: Map<number, { createdAt: number; author: string }>) {
  const hub = new EventHub();
  const clock = new FakeClock();
  let snap = first;
  const monitor = new Monitor({
    hub,
    clock,
    logger: silentLogger,
    getSnapshot: () => snap,
    configVersionInfo: (v) => {
      const i = versions?.get(v);
      return i && { version: v, ...i };
    },
  });
  const fired: { at: number; alert: AlertView }[] = [];
  monitor.alertTransitions.subscribe((a) => {
    if (a.state === 'firing') fired.push({ at: clock.now(), alert: a });
  });
  monitor.start();
  return { hub, clock, monitor, fired, swap: (s: Snapshot) => (snap = s) };
}

describe('monitor fairness (e2e over the event hub)', () => {
  it('a consistent-hash pool where most requests share one key fires BackendOverfed naming the backend and the key', () => {
    const snap = testSnapshot(
      config({ policy: 'consistent-hash', hash: { key: 'header:x-user-id' }, backends: backends([1, 1, 1]) }),
      1,
    );
    const { hub, clock, monitor, fired } = setup(snap);
    const state = snap.pools.get('app')?.state;
    const keyBackend = (key: string) => state?.pick(key)?.name;
    const rnd = seeded(7);
    const hot = 'user-42';
    const hotBackend = keyBackend(hot);
    // One window of honest traffic over many keys, then the hot key takes 80%.
    let faulty = false;
    const shot = () => {
      const key = faulty && rnd() < 0.8 ? hot : `user-${Math.floor(rnd() * 10_000)}`;
      return { backend: keyBackend(key), status: 200, durationMs: 5 + rnd() * 20, hashKey: key };
    };
    drive({ hub, clock, pool: 'app', seconds: 60, rps: 50, shot });
    expect(fired).toEqual([]);
    faulty = true;
    const faultAt = clock.now();
    drive({
      hub,
      clock,
      pool: 'app',
      seconds: 60,
      rps: 50,
      shot,
      onSecond: () => fired.some((f) => f.alert.alertname === 'BackendOverfed'),
    });
    const overfed = fired.find((f) => f.alert.alertname === 'BackendOverfed');
    expect(overfed, 'BackendOverfed within one window').toBeDefined();
    const a = (overfed as { at: number; alert: AlertView }).alert;
    expect(a.labels['backend']).toBe(hotBackend);
    expect(a.annotations['cause_kind']).toBe('hot-hash-key');
    expect(a.annotations['cause']).toContain(`"${hot}"`);
    expect(a.annotations['description']).toContain('fulcrum status --pool app');
    const seconds = ((overfed as { at: number }).at - faultAt) / 1000;
    expect(seconds).toBeLessThanOrEqual(60);
    console.log(
      `[monitor] hot hash key → BackendOverfed(${hotBackend}) after ${seconds.toFixed(1)} s (window 60s, for 30s)`,
    );
    const stats = monitor.poolStats()[0];
    expect(stats?.hotKey?.key).toBe(hot);
    expect(monitor.degradedReasons().some((r) => r.startsWith('BackendOverfed'))).toBe(true);
    monitor.stop();
  });

  it('weights that pile traffic onto a backend beyond its capacity fire BackendOverloaded naming the skew and its version', () => {
    const registry = new HostRegistry();
    const v1 = testSnapshot(
      config({ policy: 'weighted-round-robin', backends: backends([1, 1, 1]) }),
      1,
      registry,
    );
    const createdAt = Date.UTC(2026, 0, 1, 0, 1, 0);
    const { hub, clock, fired, swap, monitor } = setup(
      v1,
      new Map([
        [1, { createdAt: Date.UTC(2025, 11, 1), author: 'bob' }],
        [2, { createdAt, author: 'alice' }],
      ]),
    );
    const rnd = seeded(11);
    // Every backend can serve 20 rps; beyond that it answers 503 to the excess.
    const capacityRps = 20;
    let snap = v1;
    const shot = () => {
      const h = snap.pools.get('app')?.state.pick(undefined);
      const total = snap.config.pools['app']?.backends.reduce((x, b) => x + b.weight, 0) ?? 1;
      const rate = (50 * (h?.configuredWeight ?? 0)) / total;
      const overloaded = rate > capacityRps && rnd() < 1 - capacityRps / rate;
      return { backend: h?.name, status: overloaded ? 503 : 200, durationMs: overloaded ? 2 : 20 };
    };
    drive({ hub, clock, pool: 'app', seconds: 60, rps: 50, shot });
    expect(fired).toEqual([]);
    snap = testSnapshot(
      config({ policy: 'weighted-round-robin', backends: backends([8, 1, 1]) }),
      2,
      registry,
    );
    swap(snap);
    const faultAt = clock.now();
    drive({
      hub,
      clock,
      pool: 'app',
      seconds: 90,
      rps: 50,
      shot,
      onSecond: () => fired.some((f) => f.alert.alertname === 'BackendOverloaded'),
    });
    const hit = fired.find((f) => f.alert.alertname === 'BackendOverloaded');
    expect(hit, 'BackendOverloaded').toBeDefined();
    const a = (hit as { alert: AlertView }).alert;
    expect(a.labels['backend']).toBe('app-1');
    expect(a.annotations['cause_kind']).toBe('weight-skew');
    expect(a.annotations['cause']).toContain('8:1');
    expect(a.annotations['cause']).toContain('config version 2');
    expect(a.annotations['cause']).toContain('alice');
    // The balancer obeyed its (unfair) config: this is not a BackendOverfed.
    expect(fired.some((f) => f.alert.alertname === 'BackendOverfed')).toBe(false);
    const seconds = ((hit as { at: number }).at - faultAt) / 1000;
    console.log(
      `[monitor] weights 8:1 beyond capacity → BackendOverloaded(app-1) after ${seconds.toFixed(1)} s`,
    );
    monitor.stop();
  });

  it('an honest round-robin over equal backends never fires over 30 simulated minutes', () => {
    const snap = testSnapshot(config({ policy: 'round-robin', backends: backends([1, 1, 1]) }), 1);
    const { hub, clock, fired, monitor } = setup(snap);
    const state = snap.pools.get('app')?.state;
    const rnd = seeded(3);
    drive({
      hub,
      clock,
      pool: 'app',
      seconds: 30 * 60,
      rps: 20,
      shot: () => ({
        backend: state?.pick(undefined)?.name ?? 'app-1',
        // A healthy service: rare errors, well inside the 99.9% SLO.
        status: rnd() < 0.0002 ? 503 : 200,
        durationMs: 2 + rnd() * 60,
      }),
    });
    expect(fired.map((f) => f.alert.alertname)).toEqual([]);
    const stats = monitor.poolStats()[0];
    expect(stats?.jain).toBeGreaterThan(0.99);
    expect(stats?.backends.every((b) => b.verdict === 'ok')).toBe(true);
    monitor.stop();
  });

  it('an honest weighted random pick (sampling noise, weights 2:1:1) never fires over 30 simulated minutes', () => {
    const snap = testSnapshot(
      config({ policy: 'random', backends: backends([2, 1, 1]) }),
      1,
      undefined,
      seeded(99),
    );
    const { hub, clock, fired, monitor } = setup(snap);
    const state = snap.pools.get('app')?.state;
    const rnd = seeded(5);
    drive({
      hub,
      clock,
      pool: 'app',
      seconds: 30 * 60,
      rps: 20,
      shot: () => ({ backend: state?.pick(undefined)?.name, status: 200, durationMs: 10 + rnd() * 10 }),
    });
    expect(fired.map((f) => f.alert.alertname)).toEqual([]);
    const b1 = monitor.poolStats()[0]?.backends[0];
    expect(b1?.expectedShare).toBeCloseTo(0.5, 5);
    monitor.stop();
  });
});
