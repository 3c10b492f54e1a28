// Issue 3 "done when": with interval 1s, timeout 500ms, unhealthyThreshold 3, a killed
// backend gets no new request later than 3.5 s after it died, and with retries on, a
// steady GET load across the kill sees zero failed client requests.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeBackends, type FakeBackend } from '../helpers/fake-backend.ts';
import { startTestBalancer, type TestBalancer } from '../helpers/balancer.ts';
import { startLoad } from '../helpers/load.ts';

let backends: FakeBackend[];
let tb: TestBalancer;

beforeAll(async () => {
  backends = await startFakeBackends(3, 'app-');
  tb = await startTestBalancer({
    listeners: { web: { address: '127.0.0.1:0', routes: [{ pool: 'app' }] } },
    pools: {
      app: {
        policy: 'round-robin',
        backends: backends.map((b) => ({ name: b.name, address: b.address })),
        healthCheck: { interval: '1s', timeout: '500ms', unhealthyThreshold: 3, healthyThreshold: 2 },
        retries: { attempts: 2, on: ['connect-failure', 'reset', '502', '503', '504'] },
      },
    },
  });
});
afterAll(async () => {
  await tb.close();
  await Promise.all(backends.map((b) => b.close()));
});

describe('a backend killed under load', () => {
  it('stops receiving picks within 3.5 s and no client request fails', async () => {
    const host = tb.balancer.controller.snapshot?.pools.get('app')?.state.hosts[1];
    if (!host) throw new Error('no host');
    const load = startLoad({ url: `${tb.url()}/`, concurrency: 4, maxMs: 20_000 });
    await new Promise((r) => setTimeout(r, 1000));
    const killedAt = Date.now();
    await backends[1]?.setMode('down');
    let lastPick = killedAt;
    let seen = host.requests;
    const until = killedAt + 6000;
    while (Date.now() < until) {
      if (host.requests !== seen) {
        seen = host.requests;
        lastPick = Date.now();
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    const result = await load.stop();
    const ms = lastPick - killedAt;
    console.log(
      `killed backend: last pick ${ms} ms after the kill; load ${result.ok} ok, ${result.failures} failed`,
    );
    expect(ms).toBeLessThan(3500);
    expect(result.failures, JSON.stringify(result)).toBe(0);
    expect(result.ok).toBeGreaterThan(200);
    await backends[1]?.setMode('ok');
  }, 30_000);
});
