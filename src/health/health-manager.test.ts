import { describe, expect, it } from 'vitest';
import { FakeClock } from '../core/clock.ts';
import { EventHub, type HostStateChange } from '../core/events.ts';
import { buildSnapshot, type Snapshot } from '../data-plane/snapshot.ts';
import { HealthManager, LAME_DUCK_HOLD_MS } from './health-manager.ts';
import { HostRegistry, type HostState } from '../data-plane/host-state.ts';
import {
  advance,
  captureLogger,
  configWith,
  ScriptedProbe,
  settle,
  snapshotWith,
} from '../testing/health-kit.ts';

const A = '127.0.0.1:9001';
const B = '127.0.0.1:9002';
const C = '127.0.0.1:9003';

function backends(n: number, extra: Record<string, unknown> = {}): Record<string, unknown>[] {
  return [A, B, C, '127.0.0.1:9004', '127.0.0.1:9005']
    .slice(0, n)
    .map((address, i) => ({ name: `b${i}`, address, ...extra }));
}

const check = (o: Record<string, unknown> = {}) => ({
  interval: '1s',
  timeout: '500ms',
  jitter: 0,
  healthyThreshold: 2,
  unhealthyThreshold: 3,
  ...o,
});

function setup(random = () => 0.5) {
  const clock = new FakeClock();
  const hub = new EventHub();
  const events: HostStateChange[] = [];
  const notices: { type: string; data: Record<string, unknown> }[] = [];
  hub.hostState.subscribe((e) => events.push(e));
  hub.notices.subscribe((n) => notices.push(n));
  const { logger, lines } = captureLogger();
  const probe = new ScriptedProbe();
  const registry = new HostRegistry();
  const manager = new HealthManager({ hub, clock, logger, random, probe: probe.probe });
  return { clock, hub, events, notices, lines, probe, registry, manager };
}

function host(s: Snapshot, address: string, pool = 'p'): HostState {
  const h = s.pools.get(pool)?.state.hosts.find((x) => x.address === address);
  if (h === undefined) throw new Error(`no host ${address}`);
  return h;
}

function candidates(s: Snapshot, pool = 'p'): string[] {
  return (s.pools.get(pool)?.state.candidates ?? []).map((h) => h.address);
}

function fail(h: HostState, kind: 'http-5xx' | 'gateway-error' | 'local-failure', n: number): void {
  for (let i = 0; i < n; i++) {
    h.requestStarted();
    h.requestFinished(kind, 5);
  }
}

describe('HealthManager: active checks', () => {
  it('warms a new backend: unknown takes no traffic, the first check decides at once', async () => {
    const t = setup();
    t.probe.set(B, 'fail');
    const s = snapshotWith(t.registry, { p: { backends: backends(2), healthCheck: check() } });
    let resolved = false;
    const done = t.manager.activate(s).then(() => (resolved = true));
    // Before any check has answered, both are unknown and the pool offers nothing.
    expect(host(s, A).status).toBe('unknown');
    expect(candidates(s)).toEqual([]);
    await done;
    expect(resolved).toBe(true);
    expect(t.probe.count(A)).toBe(1);
    // One failed first check is enough for unhealthy (no threshold for the first verdict).
    expect(host(s, A).status).toBe('healthy');
    expect(host(s, B).status).toBe('unhealthy');
    expect(candidates(s)).toEqual([A]);
    expect(t.events.map((e) => `${e.address} ${e.from}->${e.to}`)).toEqual([
      `${A} healthy->unknown`,
      `${B} healthy->unknown`,
      `${A} unknown->healthy`,
      `${B} unknown->unhealthy`,
    ]);
    t.manager.stop();
  });

  it('initialState healthy takes traffic before the first check', async () => {
    const t = setup();
    const s = snapshotWith(t.registry, {
      p: { backends: backends(1), healthCheck: check({ initialState: 'healthy' }) },
    });
    const p = t.manager.activate(s);
    expect(candidates(s)).toEqual([A]);
    await p;
    t.manager.stop();
  });

  it('activate resolves after warmTimeoutMs when a first check hangs', async () => {
    const t = setup();
    t.probe.set(A, 'hang');
    const s = snapshotWith(t.registry, { p: { backends: backends(1), healthCheck: check() } });
    let resolved = false;
    const p = t.manager.activate(s, { warmTimeoutMs: 2000 }).then(() => (resolved = true));
    await advance(t.clock, 1900);
    expect(resolved).toBe(false);
    await advance(t.clock, 200);
    await p;
    expect(host(s, A).status).toBe('unknown');
    t.manager.stop();
    t.probe.releaseHung();
  });

  it('counts thresholds truly consecutively', async () => {
    const t = setup();
    const s = snapshotWith(t.registry, { p: { backends: backends(1), healthCheck: check() } });
    await t.manager.activate(s);
    const h = host(s, A);
    const run = async (seq: string, expected: string) => {
      for (const c of seq) {
        t.probe.set(A, c === '+' ? 'ok' : 'fail');
        await advance(t.clock, 1000);
      }
      expect(h.status, `after ${seq}`).toBe(expected);
    };
    await run('--+--', 'healthy'); // a success resets the failure streak
    await run('-', 'unhealthy'); // third failure in a row
    expect(h.statusReason).toMatch(/3 consecutive failed checks/);
    await run('+-+', 'unhealthy'); // a failure resets the success streak
    await run('+', 'healthy');
    expect(host(s, A).checkSuccesses).toBe(2);
    t.manager.stop();
  });

  it('keeps checking when the check throws or rejects (counted as failures)', async () => {
    const t = setup();
    const s = snapshotWith(t.registry, { p: { backends: backends(2), healthCheck: check() } });
    await t.manager.activate(s);
    t.probe.set(A, 'throw');
    t.probe.set(B, 'reject');
    await advance(t.clock, 3000);
    expect(host(s, A).status).toBe('unhealthy');
    expect(host(s, B).status).toBe('unhealthy');
    expect(host(s, A).lastCheck?.detail).toMatch(/check error: probe exploded/);
    t.probe.set(A, 'ok');
    t.probe.set(B, 'ok');
    await advance(t.clock, 2000);
    expect(host(s, A).status).toBe('healthy');
    expect(host(s, B).status).toBe('healthy');
    expect(t.probe.count(A)).toBe(6);
    t.manager.stop();
  });

  it('reports every check result to onCheck', async () => {
    const t = setup();
    const seen: string[] = [];
    const manager = new HealthManager({
      hub: t.hub,
      clock: t.clock,
      logger: captureLogger().logger,
      probe: t.probe.probe,
      onCheck: (pool, backend, ok) => seen.push(`${pool}/${backend}/${ok}`),
    });
    t.probe.set(B, 'fail');
    await manager.activate(snapshotWith(t.registry, { p: { backends: backends(2), healthCheck: check() } }));
    await advance(t.clock, 1000);
    expect(seen).toEqual(['p/b0/true', 'p/b1/false', 'p/b0/true', 'p/b1/false']);
    manager.stop();
  });

  it('keeps checking when a state-change listener throws', async () => {
    const t = setup();
    t.hub.hostState.subscribe(() => {
      throw new Error('listener broke');
    });
    const s = snapshotWith(t.registry, { p: { backends: backends(1), healthCheck: check() } });
    await t.manager.activate(s);
    t.probe.set(A, 'fail');
    await advance(t.clock, 5000);
    expect(host(s, A).status).toBe('unhealthy');
    expect(t.probe.count(A)).toBe(6);
    t.manager.stop();
  });

  it('never overlaps checks of one backend', async () => {
    const t = setup();
    const s = snapshotWith(t.registry, { p: { backends: backends(1), healthCheck: check() } });
    await t.manager.activate(s);
    t.probe.set(A, 'hang');
    await advance(t.clock, 10_000);
    expect(t.probe.count(A)).toBe(2); // the first (ok) and one hanging
    t.probe.set(A, 'ok');
    t.probe.releaseHung();
    await advance(t.clock, 1000);
    expect(t.probe.count(A)).toBe(3);
    expect(t.probe.maxInFlightPerAddress).toBe(1);
    t.manager.stop();
  });

  it('spreads checks with jitter within interval ± jitter', async () => {
    const values = [0, 1];
    let i = 0;
    const t = setup(() => values[i++ % 2] as number);
    const s = snapshotWith(t.registry, {
      p: { backends: backends(1), healthCheck: check({ interval: '1s', jitter: '20%' }) },
    });
    await t.manager.activate(s); // check 1 at t=0; next wait = 1000 × (1 − 0.2) = 800
    await advance(t.clock, 799, 1);
    expect(t.probe.count(A)).toBe(1);
    await advance(t.clock, 1, 1);
    expect(t.probe.count(A)).toBe(2); // next wait = 1000 × 1.2 = 1200
    await advance(t.clock, 1199, 1);
    expect(t.probe.count(A)).toBe(2);
    await advance(t.clock, 1, 1);
    expect(t.probe.count(A)).toBe(3);
    t.manager.stop();
  });
});

describe('HealthManager: outlier detection', () => {
  const outlier = (o: Record<string, unknown> = {}) => ({
    consecutiveErrors: 5,
    consecutiveLocalFailures: 3,
    baseEjectionTime: '30s',
    maxEjectionTime: '100s',
    maxEjectionPercent: '50%',
    ...o,
  });

  it('ejects after consecutiveErrors 5xx, returns it when the ejection time is over', async () => {
    const t = setup(() => 0);
    const s = snapshotWith(t.registry, { p: { backends: backends(3), outlierDetection: outlier() } });
    await t.manager.activate(s);
    const h = host(s, A);
    fail(h, 'http-5xx', 4);
    expect(h.status).toBe('healthy');
    fail(h, 'gateway-error', 1);
    expect(h.status).toBe('ejected');
    expect(candidates(s)).toEqual([B, C]);
    expect(t.events.at(-1)).toMatchObject({ address: A, from: 'healthy', to: 'ejected' });
    expect(t.events.at(-1)?.reason).toMatch(/consecutive-errors: ejected for 30000ms/);
    await advance(t.clock, 29_000, 1000);
    expect(h.status).toBe('ejected');
    await advance(t.clock, 1000, 1000);
    expect(h.status).toBe('healthy');
    expect(candidates(s)).toEqual([A, B, C]);
    t.manager.stop();
  });

  it('counts errors and local failures apart; a success resets both', async () => {
    const t = setup();
    const s = snapshotWith(t.registry, { p: { backends: backends(3), outlierDetection: outlier() } });
    await t.manager.activate(s);
    const h = host(s, A);
    fail(h, 'http-5xx', 4);
    fail(h, 'local-failure', 2);
    expect(h.status).toBe('healthy'); // 4 errors, 2 local failures: neither threshold
    h.requestStarted();
    h.requestFinished('success', 1);
    fail(h, 'http-5xx', 1);
    fail(h, 'local-failure', 2);
    expect(h.status).toBe('healthy');
    fail(h, 'local-failure', 1);
    expect(h.status).toBe('ejected');
    expect(h.statusReason).toMatch(/consecutive-local-failures/);
    t.manager.stop();
  });

  it('ejection time = base × times ejected, capped, jittered down by at most 10%', async () => {
    const t = setup(() => 0.999);
    const s = snapshotWith(t.registry, { p: { backends: backends(3), outlierDetection: outlier() } });
    await t.manager.activate(s);
    const h = host(s, A);
    const durations: number[] = [];
    for (let i = 0; i < 5; i++) {
      fail(h, 'http-5xx', 5);
      expect(h.status).toBe('ejected');
      durations.push(h.ejectedUntil - t.clock.now());
      await advance(t.clock, h.ejectedUntil - t.clock.now(), 1000);
      expect(h.status).toBe('healthy');
    }
    // 30s, 60s, 90s, 100s (cap), 100s, each × (1 − 0.1 × 0.999)
    expect(durations).toEqual(
      [30_000, 60_000, 90_000, 100_000, 100_000].map((d) => Math.round(d * (1 - 0.0999))),
    );
    expect(h.ejections).toBe(5);
    t.manager.stop();
  });

  it('a passing active check returns an ejected backend early', async () => {
    const t = setup();
    const s = snapshotWith(t.registry, {
      p: { backends: backends(3), outlierDetection: outlier(), healthCheck: check() },
    });
    await t.manager.activate(s);
    const h = host(s, A);
    fail(h, 'http-5xx', 5);
    expect(h.status).toBe('ejected');
    await advance(t.clock, 1000);
    expect(h.status).toBe('healthy');
    expect(h.statusReason).toMatch(/returned from ejection/);
    t.manager.stop();
  });

  it('two of three failing with maxEjectionPercent 50%: one ejected, the other stays in rotation', async () => {
    const t = setup();
    const s = snapshotWith(t.registry, { p: { backends: backends(3), outlierDetection: outlier() } });
    await t.manager.activate(s);
    fail(host(s, A), 'http-5xx', 5);
    fail(host(s, B), 'http-5xx', 5);
    expect(host(s, A).status).toBe('ejected');
    expect(host(s, B).status).toBe('healthy');
    expect(candidates(s)).toEqual([B, C]);
    expect(s.pools.get('p')?.state.panic).toBe(false);
    expect(t.lines.some((l) => l.msg === 'outlier not ejected: maxEjectionPercent reached')).toBe(true);
    t.manager.stop();
  });

  it('two of three failing, with active checks also failing: the second is marked unhealthy, then panic', async () => {
    const t = setup();
    const s = snapshotWith(t.registry, {
      p: {
        backends: backends(3),
        outlierDetection: outlier(),
        healthCheck: check({ unhealthyThreshold: 2 }),
      },
    });
    await t.manager.activate(s);
    fail(host(s, A), 'http-5xx', 5);
    fail(host(s, B), 'http-5xx', 5);
    t.probe.set(A, 'fail');
    t.probe.set(B, 'fail');
    await advance(t.clock, 2000);
    // A: ejected and now failing checks too → unhealthy; B: unhealthy by checks.
    expect(host(s, A).status).toBe('unhealthy');
    expect(host(s, B).status).toBe('unhealthy');
    const pool = s.pools.get('p')?.state;
    // 1 of 3 available < 50%: panic sends traffic to all three again, and says so.
    expect(pool?.panic).toBe(true);
    expect(candidates(s)).toEqual([A, B, C]);
    expect(t.notices.map((n) => n.type)).toContain('pool-panic-entered');
    expect(t.lines.some((l) => l.level === 40 && /entered panic/.test(l.msg))).toBe(true);
    expect(t.manager.readinessReasons(s)).toEqual([
      'pool "p" is in panic: 1 of 3 backends available, below panicThreshold 50%; balancing across all backends',
    ]);
    expect(t.manager.describe(s)[0]).toMatchObject({ panic: true, available: 1, total: 3 });
    // Recovery leaves panic, loudly too.
    t.probe.set(A, 'ok');
    t.probe.set(B, 'ok');
    await advance(t.clock, 2000);
    expect(pool?.panic).toBe(false);
    expect(t.notices.map((n) => n.type)).toContain('pool-panic-left');
    expect(t.manager.readinessReasons(s)).toEqual([]);
    t.manager.stop();
  });

  it('with panicThreshold 0 the failing backends stay out', async () => {
    const t = setup();
    const s = snapshotWith(t.registry, {
      p: {
        backends: backends(3),
        outlierDetection: outlier(),
        healthCheck: check({ unhealthyThreshold: 2 }),
        panicThreshold: 0,
      },
    });
    await t.manager.activate(s);
    t.probe.set(A, 'fail');
    t.probe.set(B, 'fail');
    await advance(t.clock, 2000);
    expect(candidates(s)).toEqual([C]);
    expect(s.pools.get('p')?.state.panic).toBe(false);
    t.manager.stop();
  });

  it('ejects success-rate outliers each interval when enough hosts have enough requests', async () => {
    const t = setup();
    const s = snapshotWith(t.registry, {
      p: {
        backends: backends(5),
        outlierDetection: outlier({
          consecutiveErrors: 0,
          consecutiveLocalFailures: 0,
          interval: '10s',
          successRate: { minHosts: 5, minRequests: 100, stdevFactor: 1.9 },
        }),
      },
    });
    await t.manager.activate(s);
    const hosts = s.pools.get('p')?.state.hosts ?? [];
    const traffic = (badRate: number, n: number) => {
      hosts.forEach((h, i) => {
        for (let k = 0; k < n; k++) {
          h.requestStarted();
          h.requestFinished(i === 0 && k < n * badRate ? 'http-5xx' : 'success', 1);
        }
      });
    };
    traffic(0.5, 99); // below minRequests: nobody judged
    await advance(t.clock, 10_000, 1000);
    expect(hosts[0]?.status).toBe('healthy');
    traffic(0.5, 100);
    await advance(t.clock, 10_000, 1000);
    expect(hosts[0]?.status).toBe('ejected');
    expect(hosts[0]?.statusReason).toMatch(/success-rate/);
    expect(hosts.slice(1).every((h) => h.status === 'healthy')).toBe(true);
    t.manager.stop();
  });
});

describe('HealthManager: refused connections', () => {
  const refuse = (h: HostState): void => {
    h.requestStarted();
    h.requestFinished('connect-failure', 1);
  };

  it('takes a backend out at once, without outlier detection or checks, for 1 s doubling up to 8 s; a success resets the doubling', async () => {
    const t = setup();
    const s = snapshotWith(t.registry, { p: { backends: backends(3) } });
    await t.manager.activate(s);
    const h = host(s, A);
    const outFor: number[] = [];
    for (let i = 0; i < 5; i++) {
      refuse(h);
      expect(h.status).toBe('ejected');
      expect(candidates(s)).toEqual([B, C]);
      // Connections already on their way fail too: they do not extend the back-off.
      refuse(h);
      outFor.push(h.refusedUntil - t.clock.now());
      await advance(t.clock, h.refusedUntil - t.clock.now() - 1, 1000);
      expect(h.status).toBe('ejected');
      await advance(t.clock, 1);
      expect(h.status).toBe('healthy');
      expect(h.statusReason).toBe('connect back-off over');
    }
    expect(outFor).toEqual([1000, 2000, 4000, 8000, 8000]);
    refuse(h);
    expect(t.manager.describe(s)[0]?.backends[0]).toMatchObject({ status: 'ejected', ejectedForMs: 8000 });
    await advance(t.clock, 8000, 1000);
    expect(t.events.find((e) => e.to === 'ejected')?.reason).toMatch(
      /^connect-refused: out of rotation for 1000ms/,
    );
    h.requestStarted();
    h.requestFinished('success', 1);
    refuse(h);
    expect(h.refusedUntil - t.clock.now()).toBe(1000);
    // Other local failures (reset, timeout) still only count towards outlier streaks.
    expect(host(s, B).status).toBe('healthy');
    fail(host(s, B), 'local-failure', 10);
    expect(host(s, B).status).toBe('healthy');
    t.manager.stop();
  });

  it('a passing active check ends the back-off early', async () => {
    const t = setup();
    const s = snapshotWith(t.registry, {
      p: { backends: backends(3), healthCheck: check({ interval: '500ms' }) },
    });
    await t.manager.activate(s);
    const h = host(s, A);
    await advance(t.clock, 100);
    refuse(h);
    expect(h.refusedUntil - t.clock.now()).toBe(1000);
    expect(h.status).toBe('ejected');
    const refusedAt = t.clock.now();
    // The next check (every 500 ms) passes: back before the 1 s back-off would have ended.
    for (let i = 0; i < 20 && h.status !== 'healthy'; i++) await advance(t.clock, 50);
    expect(h.status).toBe('healthy');
    expect(t.clock.now() - refusedAt).toBeLessThan(1000);
    expect(h.statusReason).toBe('active check passed: back after a refused connection');
    expect(h.refusedUntil).toBe(0);
    expect(candidates(s)).toEqual([A, B, C]);
    t.manager.stop();
  });
});

describe('HealthManager: slow start, drain, lame duck, flap dampening', () => {
  it('ramps a backend added to a running pool from 10% to 100% over slowStart', async () => {
    const t = setup();
    const v1 = snapshotWith(t.registry, { p: { backends: backends(1, { weight: 10 }), slowStart: '10s' } });
    await t.manager.activate(v1);
    expect(host(v1, A).status).toBe('healthy'); // a new pool starts at full weight
    const v2 = snapshotWith(
      t.registry,
      { p: { backends: backends(2, { weight: 10 }), slowStart: '10s' } },
      2,
    );
    await t.manager.activate(v2);
    const h = host(v2, B);
    expect(h.status).toBe('slow-start');
    expect(h.effectiveWeight).toBeCloseTo(1);
    const seen: number[] = [];
    for (let i = 0; i < 10; i++) {
      await advance(t.clock, 1000, 1000);
      seen.push(Math.round(h.effectiveWeight * 10) / 10);
    }
    expect(seen).toEqual([1.9, 2.8, 3.7, 4.6, 5.5, 6.4, 7.3, 8.2, 9.1, 10]);
    expect(h.status).toBe('healthy');
    expect(t.events.at(-1)).toMatchObject({
      address: B,
      from: 'slow-start',
      to: 'healthy',
      reason: 'slow start complete',
    });
    t.manager.stop();
  });

  it('ramps a backend that recovers from unhealthy', async () => {
    const t = setup();
    const s = snapshotWith(t.registry, {
      p: {
        backends: backends(2),
        slowStart: '4s',
        healthCheck: check({ unhealthyThreshold: 1, healthyThreshold: 1 }),
      },
    });
    await t.manager.activate(s);
    t.probe.set(A, 'fail');
    await advance(t.clock, 1000);
    expect(host(s, A).status).toBe('unhealthy');
    t.probe.set(A, 'ok');
    await advance(t.clock, 1000);
    expect(host(s, A).status).toBe('slow-start');
    await advance(t.clock, 4000);
    expect(host(s, A).status).toBe('healthy');
    expect(host(s, A).effectiveWeight).toBe(1);
    t.manager.stop();
  });

  it('drains on drain: true and on weight 0; in-flight requests still finish', async () => {
    const t = setup();
    const v1 = snapshotWith(t.registry, { p: { backends: backends(3) } });
    await t.manager.activate(v1);
    const a = host(v1, A);
    a.requestStarted();
    const v2 = snapshotWith(
      t.registry,
      {
        p: {
          backends: [
            { name: 'b0', address: A, drain: true },
            { name: 'b1', address: B, weight: 0 },
            { name: 'b2', address: C },
          ],
        },
      },
      2,
    );
    await t.manager.activate(v2);
    expect(a.status).toBe('draining');
    expect(host(v2, B).status).toBe('draining');
    expect(candidates(v2)).toEqual([C]);
    // The previous snapshot's pool (still used until the proxy swaps) is refreshed too.
    expect(candidates(v1)).toEqual([C]);
    a.requestFinished('success', 3);
    expect(a.inFlight).toBe(0);
    expect(v2.pools.get('p')?.state.panic).toBe(false);
    t.manager.stop();
  });

  it('drains a lame duck (proxy signal) until an active check passes without the header', async () => {
    const t = setup();
    const s = snapshotWith(t.registry, {
      p: { backends: backends(2), lameDuckHeader: 'X-Lame-Duck', healthCheck: check() },
    });
    await t.manager.activate(s);
    const a = host(s, A);
    expect(a.lameDuckHeader).toBe('x-lame-duck');
    t.probe.set(A, 'lame-duck');
    a.markLameDuck();
    expect(a.status).toBe('draining');
    expect(candidates(s)).toEqual([B]);
    await advance(t.clock, 3000); // checks still carry the header
    expect(a.status).toBe('draining');
    t.probe.set(A, 'ok');
    await advance(t.clock, 1000);
    expect(a.status).toBe('draining'); // one clean check is not enough (healthyThreshold 2)
    await advance(t.clock, 1000);
    expect(a.status).toBe('healthy');
    expect(a.lameDuck).toBe(false);
    expect(a.statusReason).toBe('passed 2 checks without the lame-duck header');
    t.manager.stop();
  });

  it('a lame duck in a pool without checks comes back after LAME_DUCK_HOLD_MS', async () => {
    const t = setup();
    const s = snapshotWith(t.registry, { p: { backends: backends(2), lameDuckHeader: 'x-lame-duck' } });
    await t.manager.activate(s);
    host(s, A).markLameDuck();
    expect(host(s, A).status).toBe('draining');
    await advance(t.clock, LAME_DUCK_HOLD_MS, 1000);
    expect(host(s, A).status).toBe('healthy');
    t.manager.stop();
  });

  it('holds a flapping backend out, doubling the hold per repeat up to maxHoldTime', async () => {
    const t = setup();
    const s = snapshotWith(t.registry, {
      p: {
        backends: backends(2),
        healthCheck: check({ unhealthyThreshold: 1, healthyThreshold: 1 }),
        flapDampening: { flips: 4, window: '60s', holdTime: '10s', maxHoldTime: '15s' },
      },
    });
    await t.manager.activate(s);
    const a = host(s, A);
    const flip = async (n: number) => {
      for (let i = 0; i < n; i++) {
        t.probe.set(A, t.probe.behaviour.get(A) === 'fail' ? 'ok' : 'fail');
        await advance(t.clock, 1000);
      }
    };
    await flip(3);
    expect(a.status).toBe('unhealthy'); // down after the third flip: not held yet
    expect(a.heldUntil).toBe(0);
    await flip(1); // 4th flip (up again) → held 10s
    expect(a.status).toBe('unhealthy');
    expect(a.statusReason).toMatch(/held out for 10000ms/);
    expect(candidates(s)).toEqual([B]);
    await advance(t.clock, 10_000);
    expect(a.status).toBe('healthy');
    await flip(4); // repeat within the window → 20s, capped at 15s
    expect(a.statusReason).toMatch(/held out for 15000ms/);
    const view = t.manager.describe(s)[0]?.backends[0];
    expect(view?.flaps).toBe(8);
    expect(view?.heldForMs).toBeGreaterThan(14_000);
    t.manager.stop();
  });
});

describe('HealthManager: reloads', () => {
  it('keeps health, counters and ejections of backends that stay', async () => {
    const t = setup();
    const pools = (weight: number) => ({
      p: {
        backends: [
          { name: 'b0', address: A, weight },
          { name: 'b1', address: B },
          { name: 'b2', address: C },
        ],
        healthCheck: check(),
        outlierDetection: { consecutiveErrors: 2, maxEjectionPercent: '50%' },
        panicThreshold: 0,
      },
    });
    const v1 = snapshotWith(t.registry, pools(1));
    await t.manager.activate(v1);
    t.probe.set(A, 'fail');
    await advance(t.clock, 3000);
    expect(host(v1, A).status).toBe('unhealthy');
    fail(host(v1, B), 'http-5xx', 2);
    expect(host(v1, B).status).toBe('ejected');
    const checksBefore = t.probe.count(A);
    const v2 = snapshotWith(t.registry, pools(5), 2);
    await t.manager.activate(v2);
    const a = host(v2, A);
    expect(a).toBe(host(v1, A));
    expect(a.status).toBe('unhealthy');
    expect(a.configuredWeight).toBe(5);
    expect(a.checkFailures).toBe(3);
    expect(host(v2, B).status).toBe('ejected');
    expect(host(v2, B).requests).toBe(2);
    expect(host(v2, B).ejections).toBe(1);
    expect(candidates(v2)).toEqual([C]);
    // The check loop was kept (no extra immediate check on reload).
    expect(t.probe.count(A)).toBe(checksBefore);
    await advance(t.clock, 1000);
    expect(t.probe.count(A)).toBe(checksBefore + 1);
    t.manager.stop();
  });

  it('stops checking removed backends and pools', async () => {
    const t = setup();
    const v1 = snapshotWith(t.registry, {
      p: { backends: backends(2), healthCheck: check() },
      q: { backends: [{ name: 'q0', address: C }], healthCheck: check() },
    });
    await t.manager.activate(v1);
    const v2 = snapshotWith(t.registry, { p: { backends: backends(1), healthCheck: check() } }, 2);
    await t.manager.activate(v2);
    const b = t.probe.count(B);
    const c = t.probe.count(C);
    await advance(t.clock, 5000);
    expect(t.probe.count(B)).toBe(b);
    expect(t.probe.count(C)).toBe(c);
    expect(t.probe.count(A)).toBe(6);
    t.manager.stop();
    await advance(t.clock, 5000);
    expect(t.probe.count(A)).toBe(6);
  });

  it('removing the health check makes a checked-down backend count as up again', async () => {
    const t = setup();
    const v1 = snapshotWith(t.registry, { p: { backends: backends(2), healthCheck: check() } });
    t.probe.set(A, 'fail');
    await t.manager.activate(v1);
    expect(host(v1, A).status).toBe('unhealthy');
    const v2 = snapshotWith(t.registry, { p: { backends: backends(2) } }, 2);
    await t.manager.activate(v2);
    expect(host(v2, A).status).toBe('healthy');
    t.manager.stop();
  });
});

describe('HealthManager: readiness and describe', () => {
  it('reports a pool with no available backend', async () => {
    const t = setup();
    t.probe.set(A, 'fail');
    const s = snapshotWith(t.registry, { p: { backends: backends(1), healthCheck: check() } });
    await t.manager.activate(s);
    // A lone unhealthy backend also puts its pool in panic (it still gets traffic).
    expect(t.manager.readinessReasons(s)).toEqual([
      'pool "p" has no available backend (b0 unhealthy)',
      'pool "p" is in panic: 0 of 1 backends available, below panicThreshold 50%; balancing across all backends',
    ]);
    const view = t.manager.describe(s)[0];
    expect(view).toMatchObject({ name: 'p', policy: 'round-robin', panic: true, available: 0, total: 1 });
    expect(view?.backends[0]).toMatchObject({
      name: 'b0',
      address: A,
      status: 'unhealthy',
      configuredWeight: 1,
      effectiveWeight: 1, // in panic it still gets its share
      consecutive: { successes: 0, failures: 1 },
      lastCheck: { ok: false, detail: 'status 503' },
      ejections: 0,
      ejectedForMs: 0,
      flaps: 0,
    });
    await settle();
    t.manager.stop();
  });
});

describe('HealthManager: two-phase activation', () => {
  const staged = (registry: HostRegistry, pools: Record<string, unknown>, version: number): Snapshot =>
    buildSnapshot(configWith(pools), version, registry, { random: () => 0, staged: true });

  it('prepare stages new hosts beside the running pool; discard leaves it exactly as it was', async () => {
    const t = setup();
    const v1 = staged(t.registry, { p: { backends: backends(2), healthCheck: check() } }, 1);
    await t.manager.activate(v1);
    const view = () => JSON.stringify(t.manager.describe(v1));
    const before = view();
    const v2 = staged(
      t.registry,
      {
        p: {
          backends: [
            { name: 'b0', address: A, weight: 3 },
            { name: 'b2', address: C },
          ],
          healthCheck: check(),
        },
      },
      2,
    );
    const prep = await t.manager.prepare(v2);
    // B (dropped by v2) is still checked and a candidate; A keeps weight 1 until commit.
    expect(candidates(v1)).toEqual([A, B]);
    expect(host(v1, A).configuredWeight).toBe(1);
    expect(host(v2, C).status).toBe('healthy');
    t.manager.discard(prep);
    expect(view()).toBe(before);
    const checksOfC = t.probe.count(C);
    await advance(t.clock, 3000);
    expect(t.probe.count(C)).toBe(checksOfC); // the staged checker stopped
    expect(t.probe.count(B)).toBeGreaterThan(1); // the running one did not
    t.manager.commit(prep); // a discarded preparation cannot be committed afterwards
    expect(candidates(v1)).toEqual([A, B]);
    t.manager.stop();
  });

  /** v1 (A and B, weight 1) running, then v2 with `next` backends prepared and committed. */
  async function committed(next: Record<string, unknown>[]) {
    const t = setup();
    const v1 = staged(t.registry, { p: { backends: backends(2), healthCheck: check() } }, 1);
    await t.manager.activate(v1);
    const v2 = staged(t.registry, { p: { backends: next, healthCheck: check() } }, 2);
    t.manager.commit(await t.manager.prepare(v2));
    return { t, v1, v2 };
  }

  it('commit adopts weights, staged hosts and drops removed ones', async () => {
    const { t, v2 } = await committed([
      { name: 'b0', address: A, weight: 3 },
      { name: 'b2', address: C },
    ]);
    expect(candidates(v2)).toEqual([A, C]);
    expect(host(v2, A).effectiveWeight).toBe(3);
    const checksOfB = t.probe.count(B);
    await advance(t.clock, 3000);
    expect(t.probe.count(B)).toBe(checksOfB);
    expect(t.probe.count(C)).toBeGreaterThan(1);
    t.manager.stop();
  });

  it('commit leaves the outgoing pool state the weights it balanced by (the monitor flushes with them)', async () => {
    const { t, v1, v2 } = await committed([
      { name: 'b0', address: A, weight: 10 },
      { name: 'b1', address: B },
    ]);
    // The hosts are shared and now carry weight 10 for A; v1 gave A and B 1 each until the swap.
    expect(host(v1, A).configuredWeight).toBe(10);
    expect([...(v1.pools.get('p')?.state.givenWeights ?? [])]).toEqual([1, 1]);
    expect([...(v2.pools.get('p')?.state.givenWeights ?? [])]).toEqual([10, 1]);
    // Health changes after the swap refresh both states; the outgoing one still says 1:1.
    fail(host(v2, B), 'gateway-error', 5);
    await advance(t.clock, 1000);
    expect([...(v1.pools.get('p')?.state.givenWeights ?? [])]).toEqual([1, 1]);
    t.manager.stop();
  });

  it('stop() during a warm-up discards it: no staged checker keeps running', async () => {
    const t = setup();
    const v1 = staged(t.registry, { p: { backends: backends(1), healthCheck: check() } }, 1);
    await t.manager.activate(v1);
    t.probe.set(B, 'hang');
    const v2 = staged(t.registry, { p: { backends: backends(2), healthCheck: check() } }, 2);
    const warming = t.manager.prepare(v2, { warmTimeoutMs: 2000 });
    await settle();
    t.manager.stop();
    await warming;
    t.probe.set(B, 'ok');
    t.probe.releaseHung();
    const checks = t.probe.count(B);
    await advance(t.clock, 3000);
    expect(t.probe.count(B)).toBe(checks);
  });
});
