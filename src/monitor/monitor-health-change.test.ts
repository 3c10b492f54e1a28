// A backend going out is judged at once, not at the next once-a-second tick; a recovery waits
// for the tick; a burst of changes costs a bounded number of evaluations.
import { describe, expect, it } from 'vitest';
import { startTestMonitor, threeBackendConfig } from '../testing/monitor-kit.ts';

const config = threeBackendConfig();

function setup() {
  let evaluations = 0;
  // Each evaluation reads the running snapshot once.
  const { hub, clock, snap, monitor } = startTestMonitor(config, { onSnapshot: () => void evaluations++ });
  const state = snap.pools.get('app')!.state;
  /** Toggle backend i between healthy and unhealthy. */
  const markDown = (i: number) => {
    const h = state.hosts[i]!;
    const from = h.status;
    h.status = from === 'unhealthy' ? 'healthy' : 'unhealthy';
    state.refresh();
    hub.hostState.emit({
      pool: 'app',
      backend: h.name,
      address: h.address,
      from,
      to: h.status,
      reason: 'test',
      at: clock.wallNow(),
    });
  };
  return { clock, monitor, markDown, evaluations: () => evaluations };
}

describe('the monitor on a health change', () => {
  it('judges at once: BackendDown is pending from the change, not from the next tick', () => {
    const t = setup();
    t.clock.advance(1000);
    t.clock.advance(100);
    t.markDown(1);
    t.clock.advance(0);
    const down = t.monitor.alerts().find((a) => a.alertname === 'BackendDown');
    expect(down).toMatchObject({ state: 'pending', labels: { pool: 'app', backend: 'app-2' } });
  });

  it('a recovery waits for the tick: a backend out most of the time still fires BackendDown', () => {
    const t = setup();
    t.clock.advance(1000);
    t.markDown(1);
    t.clock.advance(0);
    const before = t.evaluations();
    // Back for 200 ms, out again: nothing is judged in between, so nothing is retracted.
    t.clock.advance(100);
    t.markDown(1);
    t.clock.advance(200);
    expect(t.evaluations()).toBe(before);
    t.markDown(1);
    // Out 4.8 s of every 5, with the ticks landing while it is out: BackendDown (for 10 s) fires.
    for (let cycle = 0; cycle < 3; cycle++) {
      t.clock.advance(4800);
      t.markDown(1);
      t.clock.advance(150);
      t.markDown(1);
      t.clock.advance(50);
    }
    const down = t.monitor.alerts().find((a) => a.alertname === 'BackendDown');
    expect(down).toMatchObject({ state: 'firing', labels: { backend: 'app-2' } });
  });

  it('a burst of changes costs at most four evaluations a second beside the tick', () => {
    const t = setup();
    t.clock.advance(1000);
    const before = t.evaluations();
    for (let i = 0; i < 100; i++) {
      t.markDown(i % 3);
      t.clock.advance(10);
    }
    // One second: the tick, and prompted evaluations at most every 250 ms.
    const n = t.evaluations() - before;
    expect(n).toBeGreaterThanOrEqual(2);
    expect(n).toBeLessThanOrEqual(1 + 5);
  });

  it('stops with the monitor: an evaluation asked for just before stop() never runs', () => {
    const t = setup();
    t.clock.advance(1000);
    t.markDown(0);
    t.markDown(1);
    t.clock.advance(0);
    // Both outages judged by one evaluation at once; a third now waits out the 250 ms gap.
    const before = t.evaluations();
    t.markDown(2);
    t.monitor.stop();
    t.clock.advance(2000);
    expect(t.evaluations()).toBe(before);
  });
});
