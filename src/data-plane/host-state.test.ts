import { describe, expect, it } from 'vitest';
import { HostRegistry, HostState } from './host-state.ts';

const spec = {
  pool: 'app',
  name: 'a',
  address: '127.0.0.1:1',
  hostname: '127.0.0.1',
  port: 1,
  weight: 1,
  maxRequests: 10,
  drain: false,
};

function finish(h: HostState, kind: 'success' | 'http-5xx' | 'gateway-error' | 'local-failure', ms: number) {
  h.requestStarted();
  h.requestFinished(kind, ms);
}

describe('HostState latency EWMA', () => {
  it('follows successful latencies', () => {
    const h = new HostState(spec);
    finish(h, 'success', 10);
    expect(h.latencyEwmaMs).toBe(10);
    finish(h, 'success', 20);
    expect(h.latencyEwmaMs).toBeCloseTo(13);
  });

  it('charges a fast failure a penalty, so p2c-ewma does not prefer a backend that fails fast', () => {
    const fast503 = new HostState(spec);
    const healthy = new HostState({ ...spec, name: 'b', address: '127.0.0.1:2' });
    for (let i = 0; i < 5; i++) {
      finish(fast503, 'success', 5);
      finish(healthy, 'success', 5);
    }
    for (let i = 0; i < 5; i++) {
      finish(fast503, 'gateway-error', 1);
      finish(healthy, 'success', 5);
    }
    expect(fast503.latencyEwmaMs).toBeGreaterThan(20 * healthy.latencyEwmaMs);
    expect(fast503.inFlight).toBe(0);
  });

  it('caps the penalty so a long failure streak stays finite and recovers', () => {
    const h = new HostState(spec);
    for (let i = 0; i < 200; i++) finish(h, 'local-failure', 1);
    expect(h.latencyEwmaMs).toBeLessThanOrEqual(60_000);
    for (let i = 0; i < 40; i++) finish(h, 'success', 5);
    expect(h.latencyEwmaMs).toBeLessThan(10);
  });
});

describe('HostRegistry pool load', () => {
  it('keeps one in-flight sum per pool, across hosts and reloads, apart from other pools', () => {
    const r = new HostRegistry();
    const a = r.acquire(spec);
    const b = r.acquire({ ...spec, name: 'b', address: '127.0.0.1:2' });
    const other = r.acquire({ ...spec, pool: 'other' });
    a.requestStarted();
    a.requestStarted();
    b.requestStarted();
    other.requestStarted();
    expect([a.poolInFlight, b.poolInFlight, other.poolInFlight]).toEqual([3, 3, 1]);
    // A reload that renames b: the new host joins the sum, the old one's request still counts.
    const c = r.acquire({ ...spec, name: 'c', address: '127.0.0.1:3' });
    r.retain(
      new Set([HostRegistry.key('app', 'a', '127.0.0.1:1'), HostRegistry.key('app', 'c', '127.0.0.1:3')]),
    );
    c.requestStarted();
    expect(c.poolInFlight).toBe(4);
    b.requestFinished('success', 1);
    a.requestFinished('http-5xx', 1);
    expect([a.poolInFlight, c.poolInFlight, other.poolInFlight]).toEqual([2, 2, 1]);
    // A pool removed and added again later starts from its new hosts alone.
    other.requestFinished('success', 1);
    r.retain(new Set([HostRegistry.key('app', 'a', '127.0.0.1:1')]));
    expect(r.acquire({ ...spec, pool: 'other' }).poolInFlight).toBe(0);
  });
});
