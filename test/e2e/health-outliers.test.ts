// Passive outlier detection against real loopback backends, driven by a minimal forwarder
// that reports outcomes to host state as the proxy does: 5xx, reset mid-response, hang
// (timeout), refused, slow, and two of three backends failing under maxEjectionPercent 50%.
import { describe, expect, it } from 'vitest';
import { forward, rigPerTest, type Rig } from './health-kit.ts';

const { start, rig } = rigPerTest();

/** Forward `n` requests one after another (bounded). */
async function load(r: Rig, n: number, timeoutMs = 1000): Promise<void> {
  for (let i = 0; i < n; i++) await forward(r.pool, timeoutMs);
}

const outlier = {
  consecutiveErrors: 5,
  consecutiveLocalFailures: 3,
  baseEjectionTime: '30s',
  maxEjectionPercent: '50%',
};

describe('passive outlier detection on real backends', () => {
  it('a backend answering 503 to every request is ejected after consecutiveErrors and returned by a passing check', async () => {
    const [a, b, c] = await start(3, 'five');
    const r = await rig([a!, b!, c!], {
      outlierDetection: outlier,
      healthCheck: { interval: '1500ms', timeout: '500ms' },
    });
    await b!.setMode('5xx', { status: 503 });
    const ejected = r.waitFor(b!, 'ejected', 3000);
    await load(r, 15); // round-robin: b gets every third request
    const e = await ejected;
    expect(e.reason).toMatch(/consecutive-errors: ejected for \d+ms \(ejection 1\)/);
    expect(b!.requests).toBe(5);
    await load(r, 10);
    expect(b!.requests).toBe(5); // no new request while ejected
    // Its health endpoint is fine, so the next check returns it long before 30 s.
    const back = await r.waitFor(b!, 'healthy', 3000);
    expect(back.reason).toBe('active check passed: returned from ejection');
    expect(r.host(b!).ejections).toBe(1);
  });

  it('a backend that resets mid-response is ejected on consecutive local failures', async () => {
    const [a, b] = await start(2, 'reset');
    const r = await rig([a!, b!], { outlierDetection: outlier });
    await b!.setMode('reset-mid-body');
    await load(r, 6);
    expect(r.host(b!).status).toBe('ejected');
    expect(r.host(b!).statusReason).toMatch(/consecutive-local-failures/);
    expect(r.host(b!).failures).toBe(3);
  });

  it('a hanging backend (timeouts) and a refusing one count as local failures', async () => {
    const [a, b, c, d] = await start(4, 'lf');
    const r = await rig([a!, b!, c!, d!], { outlierDetection: outlier });
    await b!.setMode('hang');
    await c!.setMode('down');
    for (let i = 0; i < 40 && r.pool.candidates.length > 2; i++) await forward(r.pool, 200);
    expect(r.host(b!).status).toBe('ejected');
    expect(r.host(c!).status).toBe('ejected');
    expect(r.host(b!).statusReason).toMatch(/consecutive-local-failures/);
    expect(r.pool.candidates.map((h) => h.name)).toEqual([a!.name, d!.name]);
  });

  it('a slow backend is not an outlier, but its latency shows', async () => {
    const [a, b] = await start(2, 'slow');
    const r = await rig([a!, b!], { outlierDetection: outlier });
    await b!.setMode('slow', { latencyMs: 150 });
    await load(r, 8);
    expect(r.host(b!).status).toBe('healthy');
    expect(r.host(b!).latencyEwmaMs).toBeGreaterThan(120);
    expect(r.host(a!).latencyEwmaMs).toBeLessThan(100);
  });

  it('two of three backends failing, maxEjectionPercent 50%: one ejected, the other stays in rotation', async () => {
    const [a, b, c] = await start(3, 'two');
    const r = await rig([a!, b!, c!], { outlierDetection: outlier });
    await a!.setMode('5xx');
    await b!.setMode('5xx');
    await load(r, 30);
    const states = [a, b, c].map((x) => r.host(x!).status);
    expect(states.filter((s) => s === 'ejected')).toHaveLength(1);
    expect(states.filter((s) => s === 'healthy')).toHaveLength(2);
    expect(r.pool.panic).toBe(false);
    expect(r.pool.candidates).toHaveLength(2);
  });

  it('two of three failing, with active checks failing too: the other is marked unhealthy and the pool panics', async () => {
    const [a, b, c] = await start(3, 'panic');
    const r = await rig([a!, b!, c!], {
      outlierDetection: outlier,
      healthCheck: { interval: '100ms', timeout: '300ms', unhealthyThreshold: 2 },
    });
    await a!.setMode('5xx');
    await b!.setMode('5xx');
    await load(r, 30);
    // Panic starts as soon as b's checks fail (a is already ejected); a's own failed checks
    // turn it from ejected to unhealthy a check later. Wait for both.
    const panicEntered = new Promise<void>((resolve) => {
      const t = setInterval(() => {
        if (r.pool.panic && r.host(a!).status === 'unhealthy' && r.host(b!).status === 'unhealthy') {
          clearInterval(t);
          resolve();
        }
      }, 20);
      setTimeout(() => clearInterval(t), 3000).unref();
    });
    a!.setHealth('fail');
    b!.setHealth('fail');
    await panicEntered;
    expect(r.host(a!).status).toBe('unhealthy');
    expect(r.host(b!).status).toBe('unhealthy');
    expect(r.pool.candidates).toHaveLength(3); // panic: all of them again
    expect(r.notices.map((n) => n.type)).toContain('pool-panic-entered');
    expect(r.manager.readinessReasons(r.snapshot)).toEqual([
      'pool "p" is in panic: 1 of 3 backends available, below panicThreshold 50%; balancing across all backends',
    ]);
  });
});
