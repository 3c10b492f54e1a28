// Issue 12 item 1: a refused connection takes the backend out of rotation at once, without
// active checks or outlier detection, until a short back-off ends (then the next request
// probes it) or a check passes; the refused request itself goes to another backend.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeBackends, type FakeBackend } from '../helpers/fake-backend.ts';
import { startTestBalancer, type TestBalancer } from '../helpers/balancer.ts';
import { httpRequest } from '../helpers/http-client.ts';

let backends: FakeBackend[];
let tb: TestBalancer;

beforeAll(async () => {
  backends = await startFakeBackends(3, 'r');
  tb = await startTestBalancer({
    listeners: { web: { address: '127.0.0.1:0', routes: [{ pool: 'app' }] } },
    // The defaults otherwise: no health checks, no outlier detection, retries on connect-failure.
    pools: {
      app: { policy: 'round-robin', backends: backends.map((b) => ({ name: b.name, address: b.address })) },
    },
  });
});
afterAll(async () => {
  await tb.close();
  await Promise.all(backends.map((b) => b.close()));
});

describe('a refused connection', () => {
  it('ejects the backend at once for a back-off; the next request after it probes, and a live backend is back', async () => {
    const port = Number(new URL(tb.url()).port);
    const dead = backends[1] as FakeBackend;
    const host = tb.balancer.controller.snapshot?.pools.get('app')?.state.hosts[1];
    if (host === undefined) throw new Error('no host');
    await dead.setMode('down');
    const events: { to: string; reason: string }[] = [];
    const off = tb.balancer.hub.hostState.subscribe((e) => events.push(e));
    // Round-robin: within three requests one is sent to the dead backend, refused, retried.
    for (let i = 0; i < 3; i++) expect((await httpRequest({ port })).status).toBe(200);
    // With worker threads the refusal reaches the main thread's host within one ring drain.
    await expect.poll(() => host.status, { timeout: 1000, interval: 5 }).toBe('ejected');
    expect(host.statusReason).toMatch(/^connect-refused: out of rotation for 1000ms/);
    // While it is out, no request is even tried on it (each try counts in host.requests). Checked
    // per request, so a back-off that ends mid-loop on a slow machine changes nothing.
    let whileOut = 0;
    for (let i = 0; i < 12; i++) {
      const out = host.status === 'ejected';
      const tried = host.requests;
      expect((await httpRequest({ port })).status).toBe(200);
      if (out && host.status === 'ejected') {
        whileOut++;
        expect(host.requests).toBe(tried);
      }
    }
    expect(whileOut).toBeGreaterThan(0);
    await dead.setMode('ok');
    // Bounded wait (at most 10 s) for the back-off to end and a request to find it listening.
    const until = Date.now() + 10_000;
    while (Date.now() < until && host.status !== 'healthy') {
      await httpRequest({ port });
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(host.status).toBe('healthy');
    const before = dead.requests;
    for (let i = 0; i < 6; i++) expect((await httpRequest({ port })).status).toBe(200);
    expect(dead.requests).toBeGreaterThan(before);
    off();
    // ejected → healthy, or more rounds of it if a back-off ended before the backend listened.
    expect(events.length % 2).toBe(0);
    expect(events.every((e, i) => e.to === (i % 2 === 0 ? 'ejected' : 'healthy'))).toBe(true);
    expect(
      events.filter((e) => e.to === 'ejected').every((e) => e.reason.startsWith('connect-refused')),
    ).toBe(true);
  }, 30_000);
});
