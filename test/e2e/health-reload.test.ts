// Host state across reloads, with real backends and real checks: a backend marked down in
// config v1 is still down in v2 (changed weight), keeps its counters and ejections, and its
// check loop carries on; a backend added in v2 is warmed before v2 is adopted.
import { afterEach, expect, it } from 'vitest';
import { systemClock } from '../../src/core/clock.ts';
import { EventHub } from '../../src/core/events.ts';
import { HealthManager } from '../../src/health/health-manager.ts';
import { probe } from '../../src/proxy/health-probe.ts';
import { HostRegistry, type HostState } from '../../src/data-plane/host-state.ts';
import { captureLogger, snapshotWith } from '../../src/testing/health-kit.ts';
import type { Snapshot } from '../../src/data-plane/snapshot.ts';
import { startFakeBackend, type FakeBackend } from '../helpers/fake-backend.ts';
import { forward } from './health-kit.ts';

let backends: FakeBackend[] = [];
let manager: HealthManager | undefined;

afterEach(async () => {
  manager?.stop();
  await Promise.all(backends.map((b) => b.close()));
  backends = [];
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it('a reload keeps health, counters and ejections of backends that stay', async () => {
  backends = await Promise.all(['r0', 'r1', 'r2', 'r3'].map((name) => startFakeBackend({ name })));
  const [a, b, c, d] = backends as [FakeBackend, FakeBackend, FakeBackend, FakeBackend];
  const registry = new HostRegistry();
  manager = new HealthManager({
    hub: new EventHub(),
    clock: systemClock,
    logger: captureLogger().logger,
    probe,
  });
  // Pool p has active checks (b goes down by checks); pool q has only passive detection (c is
  // ejected; a passing check would return it at once, so q has none).
  const pools = (list: FakeBackend[], weightOfB: number) => ({
    p: {
      backends: list.map((x) => ({ name: x.name, address: x.address, weight: x === b ? weightOfB : 1 })),
      healthCheck: { interval: '100ms', timeout: '200ms', unhealthyThreshold: 2, healthyThreshold: 2 },
      panicThreshold: 0,
    },
    q: {
      backends: [a, c].map((x) => ({ name: x.name, address: x.address })),
      outlierDetection: { consecutiveErrors: 3, baseEjectionTime: '60s', maxEjectionPercent: '50%' },
    },
  });
  const host = (s: Snapshot, x: FakeBackend, pool = x === c ? 'q' : 'p') =>
    s.pools.get(pool)?.state.hosts.find((h) => h.address === x.address) as HostState;

  const v1 = snapshotWith(registry, pools([a, b], 1), 1);
  await manager.activate(v1);
  b.setHealth('fail');
  await c.setMode('5xx');
  const q1 = v1.pools.get('q')!.state;
  for (let i = 0; i < 12 && host(v1, c).status !== 'ejected'; i++) await forward(q1);
  for (let i = 0; i < 30 && host(v1, b).status !== 'unhealthy'; i++) await sleep(50);
  expect(host(v1, b).status).toBe('unhealthy');
  expect(host(v1, c).status).toBe('ejected');
  const requestsOfC = host(v1, c).requests;
  const checksOfB = b.healthChecks;
  const failsOfB = host(v1, b).checkFailures;
  expect(failsOfB).toBeGreaterThanOrEqual(2);

  // v2: b's weight changes, d is added (and must be checked before v2 is adopted).
  const v2 = snapshotWith(registry, pools([a, b, d], 5), 2);
  await manager.activate(v2);
  expect(host(v2, d).lastCheck?.ok).toBe(true);
  expect(host(v2, d).status).toBe('healthy');
  expect(host(v2, b)).toBe(host(v1, b));
  expect(host(v2, b).status).toBe('unhealthy');
  expect(host(v2, b).configuredWeight).toBe(5);
  // The failure streak went on (a reset would have started it again at 1).
  expect(host(v2, b).checkFailures).toBeGreaterThanOrEqual(failsOfB);
  expect(host(v2, c).status).toBe('ejected');
  expect(host(v2, c).requests).toBe(requestsOfC);
  expect(host(v2, c).ejections).toBe(1);
  expect(v2.pools.get('p')!.state.candidates.map((h) => h.name)).toEqual(['r0', 'r3']);
  expect(v2.pools.get('q')!.state.candidates.map((h) => h.name)).toEqual(['r0']);

  // The check loop of b went on through the reload; it recovers by checks as before.
  b.setHealth('ok');
  for (let i = 0; i < 40 && host(v2, b).status !== 'healthy'; i++) await sleep(50);
  expect(host(v2, b).status).toBe('healthy');
  expect(b.healthChecks).toBeGreaterThan(checksOfB);
  expect(host(v2, b).effectiveWeight).toBe(5);
});
