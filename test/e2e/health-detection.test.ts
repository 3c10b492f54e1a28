// Active checks against real loopback backends: a killed backend, a hanging health endpoint,
// a flapping backend, a lame duck. Real clock; every loop is bounded in count and time.
import { describe, expect, it } from 'vitest';
import { startFakeBackend } from '../helpers/fake-backend.ts';
import { rigPerTest } from './health-kit.ts';

const { start, adopt, rig } = rigPerTest();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('active health checks on real backends', () => {
  it('a killed backend gets no new request later than 3.5 s after it died (interval 1s, timeout 500ms, unhealthyThreshold 3)', async () => {
    const [a, b, c] = await start(3, 'kill');
    const r = await rig([a!, b!, c!], {
      healthCheck: { interval: '1s', timeout: '500ms', unhealthyThreshold: 3, healthyThreshold: 2 },
      slowStart: '2s',
    });
    const dead = r.host(b!);
    expect(r.pool.candidates).toHaveLength(3);
    // Let the check loops run a little so the kill lands at a random point of b's cycle.
    await sleep(300);
    const unhealthy = r.waitFor(b!, 'unhealthy', 6000);
    await b!.setMode('down');
    const t0 = performance.now();
    // Steady picks every 10 ms (what the proxy would route): note the last one that chose b.
    let lastPickOfDead = 0;
    let picks = 0;
    let detectedAt = 0;
    void unhealthy.then(() => (detectedAt = performance.now() - t0));
    while (detectedAt === 0 && performance.now() - t0 < 6000 && picks < 1000) {
      if (r.pool.pick(undefined) === dead) lastPickOfDead = performance.now() - t0;
      picks++;
      await sleep(10);
    }
    const change = await unhealthy;
    for (let i = 0; i < 20; i++) {
      expect(r.pool.pick(undefined)).not.toBe(dead);
    }
    console.log(
      `[health] killed backend: marked unhealthy after ${Math.round(detectedAt)} ms, last pick of it at ${Math.round(lastPickOfDead)} ms (${change.reason})`,
    );
    expect(change.reason).toMatch(/3 consecutive failed checks \(ECONNREFUSED\)/);
    expect(lastPickOfDead).toBeLessThan(3500);
    expect(detectedAt).toBeLessThan(3500);

    // Recovery: healthyThreshold 2 passing checks bring it back, then slow start ramps it up.
    const ramping = r.waitFor(b!, 'slow-start', 5000);
    const healthy = r.waitFor(b!, 'healthy', 9000);
    await b!.setMode('ok');
    const t1 = performance.now();
    await ramping;
    const back = performance.now() - t1;
    expect(r.pool.candidates).toContain(dead);
    expect(dead.effectiveWeight).toBeLessThan(0.5);
    await healthy;
    const full = performance.now() - t1;
    console.log(
      `[health] restarted backend: back in rotation (slow start) after ${Math.round(back)} ms, full weight after ${Math.round(full)} ms`,
    );
    expect(dead.effectiveWeight).toBe(1);
  }, 20_000);

  it('a hanging health endpoint is timed out and marked unhealthy; checks never pile up', async () => {
    const [a, b] = await start(2, 'hang');
    const r = await rig([a!, b!], {
      healthCheck: { interval: '200ms', timeout: '300ms', unhealthyThreshold: 2, jitter: 0 },
    });
    const before = b!.healthChecks;
    b!.setHealth('hang');
    const change = await r.waitFor(b!, 'unhealthy', 3000);
    expect(change.reason).toMatch(/2 consecutive failed checks \(timeout after 300ms\)/);
    // Each check waits for the previous one: at most one check per 300 ms window (+1 in flight).
    const checks = b!.healthChecks - before;
    expect(checks).toBeLessThanOrEqual(4);
    expect(r.host(b!).lastCheck).toMatchObject({ ok: false, detail: 'timeout after 300ms' });
  });

  it('a new backend that fails its first check never takes traffic', async () => {
    const [a, b] = await start(2, 'warm');
    b!.setHealth('fail');
    const r = await rig([a!, b!], { healthCheck: { interval: '5s', timeout: '500ms' } });
    // activate resolved after the first check of each: b is already out, with one failure.
    expect(r.host(b!).status).toBe('unhealthy');
    expect(r.host(b!).checkFailures).toBe(1);
    expect(r.pool.candidates.map((h) => h.name)).toEqual([a!.name]);
  });

  it('a flapping backend is held out and its flaps are counted', async () => {
    const [a, b] = adopt([
      await startFakeBackend({ name: 'steady' }),
      await startFakeBackend({ name: 'flappy', flapPeriodMs: 150 }),
    ]);
    const r = await rig([a!, b!], {
      healthCheck: {
        interval: '50ms',
        timeout: '100ms',
        unhealthyThreshold: 1,
        healthyThreshold: 1,
        jitter: 0,
      },
      flapDampening: { flips: 4, window: '10s', holdTime: '5s', maxHoldTime: '20s' },
    });
    await b!.setMode('flap');
    const deadline = performance.now() + 5000;
    while (r.host(b!).holds === 0 && performance.now() < deadline) await sleep(25);
    await b!.setMode('ok');
    const h = r.host(b!);
    console.log(`[health] flapping backend: held out after ${h.flaps} flips`);
    expect(h.holds).toBe(1);
    expect(h.flaps).toBeGreaterThanOrEqual(4);
    // Held: out of rotation although its checks pass again.
    await sleep(300);
    expect(h.lastCheck?.ok).toBe(true);
    expect(h.status).toBe('unhealthy');
    expect(r.pool.candidates).not.toContain(h);
    const view = r.manager.describe(r.snapshot)[0]?.backends[1];
    expect(view?.flaps).toBe(h.flaps);
    expect(view?.heldForMs).toBeGreaterThan(3000);
  });

  it('a backend answering checks with the lame-duck header is drained until the header goes', async () => {
    const [a, b] = await start(2, 'duck');
    const r = await rig([a!, b!], {
      lameDuckHeader: 'X-Lame-Duck',
      healthCheck: { interval: '100ms', timeout: '300ms' },
    });
    b!.setExtraHeaders({ 'x-lame-duck': 'shutting down' });
    await r.waitFor(b!, 'draining', 2000);
    expect(r.pool.candidates.map((h) => h.name)).toEqual([a!.name]);
    b!.setExtraHeaders({});
    await r.waitFor(b!, 'healthy', 2000);
    expect(r.pool.candidates).toHaveLength(2);
  });
});
