// The expected shares of a window are what the balancer gave request by request. The drill
// that found this: a 10:1:1 config ran 1.35 s before the guard rolled it back; on a busy
// machine no evaluation ran in between, the sampled shares gave that second 1:1:1, and the
// monitor called b1 overfed (1.31×) "because of a reload" when it had got exactly what the
// weights said.
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../core/clock.ts';
import { EventHub } from '../core/events.ts';
import { HostRegistry } from '../data-plane/host-state.ts';
import type { Snapshot } from '../data-plane/snapshot.ts';
import { Monitor } from './monitor.ts';
import { silentLogger, testSnapshot } from '../testing/monitor-kit.ts';

const config = (weights: number[]) => ({
  version: 1,
  listeners: { web: { address: '127.0.0.1:8080', routes: [{ pool: 'app' }] } },
  pools: {
    app: {
      policy: 'weighted-round-robin',
      backends: weights.map((weight, i) => ({ name: `b${i + 1}`, address: `127.0.0.1:${9001 + i}`, weight })),
    },
  },
  monitor: {
    window: '5s',
    fairness: { overfed: 1.25, starved: 0.5, minRequestsPerBackend: 5, for: '1s' },
  },
  audit: { schedule: '' },
});

/** A monitor whose evaluations run only when the test says: a stalled event loop. */
function setup(first: Snapshot) {
  const hub = new EventHub();
  const clock = new FakeClock(10_000);
  let snap = first;
  const monitor = new Monitor({ hub, clock, logger: silentLogger, getSnapshot: () => snap });
  let i = 0;
  /** `n` requests `stepMs` apart, each picked by the snapshot in force (or by `rig`). */
  const send = (n: number, stepMs: number, rig?: (k: number) => string) => {
    for (let k = 0; k < n; k++) {
      const backend = rig ? rig(k) : snap.pools.get('app')?.state.pick(undefined)?.name;
      hub.requests.emit({
        listener: 'web',
        pool: 'app',
        backend,
        status: 200,
        durationMs: 5,
        error: undefined,
        retries: 0,
        requestId: String(i++),
        method: 'GET',
        hashKey: undefined,
      });
      clock.advance(stepMs);
    }
  };
  const b1 = () => {
    const stats = monitor.poolStats().find((p) => p.pool === 'app');
    const b = stats?.backends.find((x) => x.backend === 'b1');
    if (b === undefined) throw new Error('no stats for b1');
    return b;
  };
  return { clock, monitor, send, swap: (s: Snapshot) => (snap = s), b1 };
}

describe('expected counts', () => {
  it('a skew that ran between two evaluations keeps its own expected shares after the rollback', () => {
    const registry = new HostRegistry();
    const even = testSnapshot(config([1, 1, 1]), 1, registry);
    const skewed = testSnapshot(config([10, 1, 1]), 2, registry);
    const back = testSnapshot(config([1, 1, 1]), 3, registry);
    const t = setup(even);
    for (let s = 0; s < 4; s++) {
      t.send(100, 10);
      t.monitor.evaluate();
    }
    // 200 ms into a slot the skew goes in; it runs 1.35 s, and no evaluation sees it.
    t.send(20, 10);
    t.swap(skewed);
    t.send(135, 10);
    t.swap(back);
    t.send(45, 10);
    t.monitor.evaluate();
    const b = t.b1();
    // b1 got 10/12 of the skew's requests and 1/3 of the rest, and that is what it was owed.
    expect(b.observedShare).toBeCloseTo((135 * (10 / 12) + 365 / 3) / 500, 1);
    expect(Math.abs(b.observedShare - b.expectedShare)).toBeLessThan(0.01);
    expect(b.verdict).toBe('ok');
    expect(t.monitor.alerts().filter((a) => a.alertname === 'BackendOverfed')).toEqual([]);
    // The dashboard's per-second ratios say the same: every slot near 1. The clock stands at
    // 16 s: the window's slots 12–15 s hold traffic (the skew spans 14 s and 15 s), 16 s none.
    const ratios = t.monitor
      .series()
      .pools[0]?.backends.find((x) => x.backend === 'b1')
      ?.shareRatio.filter((r) => r !== null);
    expect(ratios?.length).toBe(4);
    for (const r of ratios ?? []) expect(r).toBeCloseTo(1, 1);
  });

  it('still names a backend overfed when it gets more than the shares in force gave it', () => {
    // The control: counting per request does not make every share fair. Requests sent to b1
    // beside the balancer's picks (6 of 10 of them) are overfeeding in any timing.
    const t = setup(testSnapshot(config([1, 1, 1]), 1));
    const rig = (k: number) => (k % 10 < 6 ? 'b1' : k % 10 < 8 ? 'b2' : 'b3');
    for (let s = 0; s < 5; s++) {
      t.send(100, 10, rig);
      t.monitor.evaluate();
    }
    const b = t.b1();
    expect([b.observedShare, b.expectedShare]).toEqual([0.6, 1 / 3]);
    expect(b.verdict).toBe('overfed');
  });
});
