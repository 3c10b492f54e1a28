// An idle pool's stats view and host facts are reused between evaluations while nothing they
// show changed, and rebuilt as soon as something does: health, weights, traffic, or time
// taking a backend's outage out of the window.
import { describe, expect, it } from 'vitest';
import { drive, startTestMonitor, threeBackendConfig } from '../testing/monitor-kit.ts';

const config = threeBackendConfig('weighted-round-robin', { monitor: { window: '10s' } });

function setup() {
  const { hub, clock, snap, monitor } = startTestMonitor(config);
  const state = snap.pools.get('app')!.state;
  const stats = () => monitor.poolStats()[0]!;
  const second = () => clock.advance(1000);
  return { hub, clock, monitor, state, stats, second };
}

describe('pool stats of an idle pool', () => {
  it('keep the last view while nothing changed, and rebuild it when health changes', () => {
    const t = setup();
    t.second();
    const first = t.stats();
    expect(first.requests).toBe(0);
    t.second();
    t.second();
    expect(t.stats()).toBe(first);

    const h = t.state.hosts[1]!;
    h.status = 'unhealthy';
    t.state.refresh();
    t.second();
    const down = t.stats();
    expect(down).not.toBe(first);
    expect(down.backends[1]).toMatchObject({ status: 'unhealthy', verdict: 'down', effectiveWeight: 0 });
    expect(down.backends.map((b) => b.expectedShare)).toEqual([0.5, 0, 0.5]);
    t.second();
    expect(t.stats()).toBe(down);

    // Healthy again, the outage still in the window: judged down until the window has passed.
    h.status = 'healthy';
    t.state.refresh();
    t.second();
    const back = t.stats();
    expect(back).not.toBe(down);
    expect(back.backends[1]).toMatchObject({ status: 'healthy', verdict: 'down' });
    for (let s = 0; s < 12; s++) t.second();
    const clear = t.stats();
    expect(clear).not.toBe(back);
    expect(clear.backends[1]!.verdict).not.toBe('down');
    expect(clear.backends.map((b) => b.expectedShare)).toEqual([1 / 3, 1 / 3, 1 / 3]);
  });

  it('are rebuilt for traffic, and reused again once the window holds none', () => {
    const t = setup();
    t.second();
    const idle = t.stats();
    const names = ['app-1', 'app-2', 'app-3'];
    drive({
      hub: t.hub,
      clock: t.clock,
      pool: 'app',
      seconds: 2,
      rps: 30,
      shot: (i) => ({ backend: names[i % 3], status: 200, durationMs: 5 }),
    });
    const busy = t.stats();
    expect(busy).not.toBe(idle);
    expect(busy.requests).toBe(60);
    for (let s = 0; s < 12; s++) t.second();
    const after = t.stats();
    expect(after.requests).toBe(0);
    t.second();
    expect(t.stats()).toBe(after);
  });

  it('a weight change on the running state (a slow-start ramp step) is a change', () => {
    const t = setup();
    t.second();
    const before = t.stats();
    const h = t.state.hosts[0]!;
    h.rampFactor = 0.5;
    t.state.refresh();
    t.second();
    const after = t.stats();
    expect(after).not.toBe(before);
    expect(after.backends.map((b) => b.expectedShare)).toEqual([0.2, 0.4, 0.4]);
    expect(after.backends[0]!.effectiveWeight).toBe(0.5);
  });
});
